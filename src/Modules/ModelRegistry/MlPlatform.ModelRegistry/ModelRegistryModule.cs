using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.ModelRegistry;

public sealed class ModelRegistryModule : Module<ModelRegistryDbContext>
{
    public override string Name => "ModelRegistry";

    public override string Schema => ModelRegistryDbContext.SchemaName;
}
