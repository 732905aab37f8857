using Microsoft.EntityFrameworkCore;
using MlPlatform.Predictions.Domain;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Predictions.Persistence;

public sealed class PredictionsDbContext(DbContextOptions<PredictionsDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "prediction";

    public override string Schema => SchemaName;

    public DbSet<ServingEndpoint> Endpoints => Set<ServingEndpoint>();

    public DbSet<EndpointVariant> Variants => Set<EndpointVariant>();


    public DbSet<BatchJob> BatchJobs => Set<BatchJob>();
}
