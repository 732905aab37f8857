using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using MlPlatform.DataPipelines.Domain;

namespace MlPlatform.DataPipelines.Persistence;

internal sealed class DatasetConfiguration : IEntityTypeConfiguration<Dataset>
{
    public void Configure(EntityTypeBuilder<Dataset> builder)
    {
        builder.ToTable("datasets");
        builder.HasKey(d => d.Id);
        builder.Property(d => d.Id).ValueGeneratedNever();
        builder.Property(d => d.Name).HasMaxLength(63);
        builder.Property(d => d.ProjectName).HasMaxLength(100);
        builder.Property(d => d.Description).HasMaxLength(2000);
        builder.Property(d => d.LatestVersion).IsConcurrencyToken();
        builder.HasIndex(d => new { d.ProjectId, d.Name }).IsUnique();
    }
}

internal sealed class DatasetVersionConfiguration : IEntityTypeConfiguration<DatasetVersion>
{
    public void Configure(EntityTypeBuilder<DatasetVersion> builder)
    {
        builder.ToTable("dataset_versions");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Id).ValueGeneratedNever();
        builder.Property(v => v.Sha256).HasMaxLength(64);
        builder.Property(v => v.Format).HasMaxLength(16);
        builder.Property(v => v.ArtifactKey).HasMaxLength(1024);
        builder.Property(v => v.ArtifactUri).HasMaxLength(2048);
        builder.Property(v => v.ProducedByStep).HasMaxLength(200);
        builder.HasIndex(v => new { v.DatasetId, v.Version }).IsUnique();
        // Same bytes, same version: the database refuses a second row for one content.
        builder.HasIndex(v => new { v.DatasetId, v.Sha256 }).IsUnique();
        builder.HasIndex(v => v.ProducedByRun);
        builder.HasOne<Dataset>().WithMany().HasForeignKey(v => v.DatasetId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class LineageEdgeConfiguration : IEntityTypeConfiguration<LineageEdge>
{
    public void Configure(EntityTypeBuilder<LineageEdge> builder)
    {
        builder.ToTable("lineage_edges");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).ValueGeneratedNever();
        builder.Property(e => e.Step).HasMaxLength(200);
        builder.Property(e => e.Direction).HasMaxLength(8);
        builder.HasIndex(e => new { e.ProjectId, e.RunId });
        builder.HasIndex(e => e.DatasetVersionId);
        builder.HasOne<DatasetVersion>().WithMany().HasForeignKey(e => e.DatasetVersionId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class QualitySuiteConfiguration : IEntityTypeConfiguration<QualitySuite>
{
    public void Configure(EntityTypeBuilder<QualitySuite> builder)
    {
        builder.ToTable("quality_suites");
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).ValueGeneratedNever();
        builder.Property(s => s.Name).HasMaxLength(63);
        builder.Property(s => s.Description).HasMaxLength(2000);
        builder.HasIndex(s => new { s.ProjectId, s.Name, s.Version }).IsUnique();
    }
}

internal sealed class QualityReportConfiguration : IEntityTypeConfiguration<QualityReport>
{
    public void Configure(EntityTypeBuilder<QualityReport> builder)
    {
        builder.ToTable("quality_reports");
        builder.HasKey(r => r.Id);
        builder.Property(r => r.Id).ValueGeneratedNever();
        builder.HasIndex(r => new { r.ProjectId, r.DatasetVersionId });
        builder.HasOne<QualitySuite>().WithMany().HasForeignKey(r => r.SuiteId).OnDelete(DeleteBehavior.Restrict);
        builder.HasOne<DatasetVersion>().WithMany().HasForeignKey(r => r.DatasetVersionId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class LineageEventConfiguration : IEntityTypeConfiguration<LineageEvent>
{
    public void Configure(EntityTypeBuilder<LineageEvent> builder)
    {
        builder.ToTable("lineage_events");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).ValueGeneratedNever();
        builder.Property(e => e.EventType).HasMaxLength(16);
        builder.Property(e => e.JobName).HasMaxLength(300);
        builder.Property(e => e.LastError).HasMaxLength(2000);
        builder.HasIndex(e => new { e.DeliveredAt, e.NextAttemptAt });
        builder.HasIndex(e => new { e.ProjectId, e.OlRunId });
        builder.HasIndex(e => e.WorkflowRunId);
    }
}

internal sealed class RemoteTrainingJobConfiguration : IEntityTypeConfiguration<RemoteTrainingJob>
{
    public void Configure(EntityTypeBuilder<RemoteTrainingJob> builder)
    {
        builder.ToTable("remote_training_jobs");
        builder.HasKey(j => j.Id);
        builder.Property(j => j.Id).ValueGeneratedNever();
        builder.Property(j => j.StepId).HasMaxLength(200);
        builder.Property(j => j.Backend).HasMaxLength(32);
        builder.Property(j => j.JobName).HasMaxLength(63);
        builder.Property(j => j.Outcome).HasMaxLength(16);
        // An attempt that follows an earlier attempt's job records nothing new.
        builder.HasIndex(j => new { j.Backend, j.JobName }).IsUnique();
        builder.HasIndex(j => j.RunId);
    }
}
