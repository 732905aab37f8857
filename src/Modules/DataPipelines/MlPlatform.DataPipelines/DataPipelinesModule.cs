using MlPlatform.DataPipelines.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.DataPipelines;

public sealed class DataPipelinesModule : Module<DataPipelinesDbContext>
{
    public override string Name => "DataPipelines";

    public override string Schema => DataPipelinesDbContext.SchemaName;
}
