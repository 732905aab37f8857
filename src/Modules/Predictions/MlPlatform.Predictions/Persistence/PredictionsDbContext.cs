using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Predictions.Persistence;

public sealed class PredictionsDbContext(DbContextOptions<PredictionsDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "prediction";

    public override string Schema => SchemaName;

    public DbSet<ServingEndpoint> Endpoints => Set<ServingEndpoint>();

    public DbSet<EndpointVariant> Variants => Set<EndpointVariant>();

    public DbSet<BatchJob> BatchJobs => Set<BatchJob>();

    public override int SaveChanges(bool acceptAllChangesOnSuccess)
    {
        AnnounceEndpointChanges();
        return base.SaveChanges(acceptAllChangesOnSuccess);
    }

    public override Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        AnnounceEndpointChanges();
        return base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
    }

    /// <summary>
    /// Every created, changed (its revision moved) or deleted endpoint is announced in the same
    /// transaction, whichever code path changed it (API, model.deploy, alias following): every host
    /// follows these rows to rebuild its routing table within a fraction of a second
    /// (<see cref="EndpointChangeFollower"/>), instead of at its next revision poll.
    /// </summary>
    private void AnnounceEndpointChanges()
    {
        List<EndpointChanged>? changes = null;
        foreach (var entry in ChangeTracker.Entries<ServingEndpoint>())
        {
            var announce = entry.State switch
            {
                EntityState.Added or EntityState.Deleted => true,
                EntityState.Modified => entry.Property(e => e.Revision).IsModified,
                _ => false,
            };
            if (announce)
            {
                (changes ??= []).Add(new EndpointChanged(Guid.CreateVersion7(), default, entry.Entity.Id, entry.Entity.Name, entry.Entity.Revision, entry.State == EntityState.Deleted));
            }
        }

        if (changes is null)
        {
            return;
        }

        var clock = Clock();
        foreach (var change in changes)
        {
            this.AddIntegrationEvent(change with { OccurredAt = clock.GetUtcNow() }, clock);
        }
    }

    /// <summary>The host's clock (tests move it); the system clock where the context was made without a host (design time).</summary>
    private TimeProvider Clock()
    {
        try
        {
            return this.GetService<TimeProvider>();
        }
        catch (InvalidOperationException)
        {
            return TimeProvider.System;
        }
    }
}
