using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.DataPipelines.Persistence;

public sealed class DataPipelinesDbContext(DbContextOptions<DataPipelinesDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "data_pipeline";

    public override string Schema => SchemaName;
}
