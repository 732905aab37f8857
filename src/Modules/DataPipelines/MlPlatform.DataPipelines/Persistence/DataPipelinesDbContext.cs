using Microsoft.EntityFrameworkCore;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.DataPipelines.Persistence;

public sealed class DataPipelinesDbContext(DbContextOptions<DataPipelinesDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "data_pipeline";

    public override string Schema => SchemaName;

    public DbSet<Dataset> Datasets => Set<Dataset>();

    public DbSet<DatasetVersion> DatasetVersions => Set<DatasetVersion>();

    public DbSet<LineageEdge> LineageEdges => Set<LineageEdge>();

    public DbSet<QualitySuite> QualitySuites => Set<QualitySuite>();

    public DbSet<QualityReport> QualityReports => Set<QualityReport>();

    public DbSet<LineageEvent> LineageEvents => Set<LineageEvent>();

    public DbSet<RemoteTrainingJob> RemoteTrainingJobs => Set<RemoteTrainingJob>();
}
