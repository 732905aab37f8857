using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using MlPlatform.Predictions.Domain;

namespace MlPlatform.Predictions.Persistence;

internal sealed class ServingEndpointConfiguration : IEntityTypeConfiguration<ServingEndpoint>
{
    public void Configure(EntityTypeBuilder<ServingEndpoint> builder)
    {
        builder.ToTable("endpoints");
        builder.HasKey(e => e.Id);
        builder.Property(e => e.Id).ValueGeneratedNever();
        builder.Property(e => e.Name).HasMaxLength(63);
        builder.Property(e => e.ProjectName).HasMaxLength(63);
        builder.Property(e => e.Description).HasMaxLength(2000);
        builder.Property(e => e.Revision).IsConcurrencyToken();
        builder.HasIndex(e => e.Name).IsUnique();
        builder.HasIndex(e => e.ProjectId);
        builder.HasMany(e => e.Variants).WithOne().HasForeignKey(v => v.EndpointId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EndpointVariantConfiguration : IEntityTypeConfiguration<EndpointVariant>
{
    public void Configure(EntityTypeBuilder<EndpointVariant> builder)
    {
        builder.ToTable("endpoint_variants");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Id).ValueGeneratedNever();
        builder.Property(v => v.Name).HasMaxLength(63);
        builder.Property(v => v.Model).HasMaxLength(63);
        builder.Property(v => v.Alias).HasMaxLength(63);
        builder.Property(v => v.VersionStatus).HasMaxLength(16);
        builder.Property(v => v.ArtifactKey).HasMaxLength(1024);
        builder.Property(v => v.Sha256).HasMaxLength(64);
        builder.HasIndex(v => new { v.EndpointId, v.Name }).IsUnique();
        builder.HasIndex(v => new { v.ModelId, v.Alias });
    }
}

internal sealed class BatchJobConfiguration : IEntityTypeConfiguration<BatchJob>
{
    public void Configure(EntityTypeBuilder<BatchJob> builder)
    {
        builder.ToTable("batch_jobs");
        builder.HasKey(j => j.Id);
        builder.Property(j => j.Id).ValueGeneratedNever();
        builder.Property(j => j.Endpoint).HasMaxLength(63);
        builder.Property(j => j.InputKey).HasMaxLength(1024);
        builder.Property(j => j.OutputKey).HasMaxLength(1024);
        builder.Property(j => j.State).HasMaxLength(16);
        builder.Property(j => j.Error).HasMaxLength(2000);
        builder.Property(j => j.LeaseOwner).HasMaxLength(200);
        builder.HasIndex(j => new { j.ProjectId, j.CreatedAt });
        // The sweep looks for running jobs whose lease ran out.
        builder.HasIndex(j => new { j.State, j.LeaseExpiresAt });
    }
}
