using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.ModelRegistry.Persistence;

public sealed class ModelRegistryDbContext(DbContextOptions<ModelRegistryDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "model_registry";

    public override string Schema => SchemaName;

    public DbSet<RegisteredModel> Models => Set<RegisteredModel>();

    public DbSet<ModelTag> ModelTags => Set<ModelTag>();

    public DbSet<ModelVersion> ModelVersions => Set<ModelVersion>();

    public DbSet<ModelAlias> Aliases => Set<ModelAlias>();

    public DbSet<AliasHistoryEntry> AliasHistory => Set<AliasHistoryEntry>();

    public DbSet<VersionDataset> VersionDatasets => Set<VersionDataset>();

    protected override void ConfigureModel(ModelBuilder modelBuilder) =>
        // Every host reads the last seconds of this outbox to forget stale cached reads (RegistryOutboxFollower).
        modelBuilder.Entity<OutboxMessage>().HasIndex(m => m.OccurredAt);
}
