using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using MlPlatform.ModelRegistry.Domain;

namespace MlPlatform.ModelRegistry.Persistence;

internal sealed class RegisteredModelConfiguration : IEntityTypeConfiguration<RegisteredModel>
{
    public void Configure(EntityTypeBuilder<RegisteredModel> builder)
    {
        builder.ToTable("registered_models");
        builder.HasKey(m => m.Id);
        builder.Property(m => m.Id).ValueGeneratedNever();
        builder.Property(m => m.Name).HasMaxLength(63);
        builder.Property(m => m.Description).HasMaxLength(2000);
        builder.Property(m => m.ProtectedAliases).HasMaxLength(2000);
        builder.Property(m => m.LatestVersion).IsConcurrencyToken();
        builder.Ignore(m => m.ProtectedAliasList);
        builder.HasIndex(m => new { m.ProjectId, m.Name }).IsUnique();
    }
}

internal sealed class ModelTagConfiguration : IEntityTypeConfiguration<ModelTag>
{
    public void Configure(EntityTypeBuilder<ModelTag> builder)
    {
        builder.ToTable("model_tags");
        builder.HasKey(t => new { t.ModelId, t.Tag });
        builder.Property(t => t.Tag).HasMaxLength(63);
        builder.HasIndex(t => t.Tag);
        builder.HasOne<RegisteredModel>().WithMany().HasForeignKey(t => t.ModelId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class ModelVersionConfiguration : IEntityTypeConfiguration<ModelVersion>
{
    public void Configure(EntityTypeBuilder<ModelVersion> builder)
    {
        builder.ToTable("model_versions");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Id).ValueGeneratedNever();
        builder.Property(v => v.Status).HasMaxLength(16).IsConcurrencyToken();
        builder.Property(v => v.Description).HasMaxLength(2000);
        builder.Property(v => v.ArtifactKey).HasMaxLength(1024);
        builder.Property(v => v.ArtifactUri).HasMaxLength(2048);
        builder.Property(v => v.Sha256).HasMaxLength(64);
        builder.Property(v => v.DecisionComment).HasMaxLength(2000);
        builder.Property(v => v.WorkflowRunId).HasMaxLength(200);
        builder.HasIndex(v => new { v.ModelId, v.Version }).IsUnique();
        // A concurrency token: two recordings merging into the same metrics cannot overwrite each other.
        builder.Property(v => v.MetricSources).HasMaxLength(64 * 1024).IsConcurrencyToken();
        builder.HasIndex(v => v.WorkflowRunId);
        builder.Property(v => v.RowVersion).IsConcurrencyToken();
        builder.HasOne<RegisteredModel>().WithMany().HasForeignKey(v => v.ModelId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class ModelAliasConfiguration : IEntityTypeConfiguration<ModelAlias>
{
    public void Configure(EntityTypeBuilder<ModelAlias> builder)
    {
        builder.ToTable("model_aliases");
        builder.HasKey(a => new { a.ModelId, a.Alias });
        builder.Property(a => a.Alias).HasMaxLength(63);
        builder.Property(a => a.Revision).IsConcurrencyToken();
        builder.HasOne<RegisteredModel>().WithMany().HasForeignKey(a => a.ModelId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class AliasHistoryConfiguration : IEntityTypeConfiguration<AliasHistoryEntry>
{
    public void Configure(EntityTypeBuilder<AliasHistoryEntry> builder)
    {
        builder.ToTable("alias_history");
        builder.HasKey(h => h.Id);
        builder.Property(h => h.Id).ValueGeneratedNever();
        builder.Property(h => h.Alias).HasMaxLength(63);
        builder.HasIndex(h => new { h.ModelId, h.Alias, h.Revision }).IsUnique();
        builder.HasOne<RegisteredModel>().WithMany().HasForeignKey(h => h.ModelId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class VersionDatasetConfiguration : IEntityTypeConfiguration<VersionDataset>
{
    public void Configure(EntityTypeBuilder<VersionDataset> builder)
    {
        builder.ToTable("version_datasets");
        builder.HasKey(d => new { d.VersionId, d.Dataset });
        builder.Property(d => d.Dataset).HasMaxLength(200);
        builder.HasIndex(d => d.Dataset);
        builder.HasOne<ModelVersion>().WithMany().HasForeignKey(d => d.VersionId).OnDelete(DeleteBehavior.Cascade);
    }
}
