using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using MlPlatform.Workflows.Domain;

namespace MlPlatform.Workflows.Persistence;

internal sealed class WorkflowConfiguration : IEntityTypeConfiguration<Workflow>
{
    public void Configure(EntityTypeBuilder<Workflow> builder)
    {
        builder.ToTable("workflows");
        builder.HasKey(w => w.Id);
        builder.Property(w => w.Id).ValueGeneratedNever();
        builder.Property(w => w.Name).HasMaxLength(63);
        builder.Property(w => w.Description).HasMaxLength(2000);
        // Adding a version and deleting check both, so neither lands on a state the other just changed.
        builder.Property(w => w.LatestVersion).IsConcurrencyToken();
        builder.Property(w => w.DeletedAt).IsConcurrencyToken();
        // One live workflow per name and project; deleted ones keep their name for their versions.
        builder.HasIndex(w => new { w.ProjectId, w.Name }).IsUnique().HasFilter("deleted_at IS NULL");
    }
}

internal sealed class WorkflowVersionConfiguration : IEntityTypeConfiguration<WorkflowVersion>
{
    public void Configure(EntityTypeBuilder<WorkflowVersion> builder)
    {
        builder.ToTable("workflow_versions");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Id).ValueGeneratedNever();
        builder.Property(v => v.ContentHash).HasMaxLength(64);
        builder.Property(v => v.SourceFormat).HasMaxLength(8);
        builder.HasIndex(v => new { v.WorkflowId, v.Version }).IsUnique();
        builder.HasOne<Workflow>().WithMany().HasForeignKey(v => v.WorkflowId).OnDelete(DeleteBehavior.Restrict);
    }
}
