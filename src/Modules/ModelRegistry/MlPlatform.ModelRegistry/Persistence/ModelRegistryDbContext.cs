using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.ModelRegistry.Persistence;

public sealed class ModelRegistryDbContext(DbContextOptions<ModelRegistryDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "model_registry";

    public override string Schema => SchemaName;
}
