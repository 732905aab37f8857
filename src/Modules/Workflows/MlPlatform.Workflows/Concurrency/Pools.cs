using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Concurrency;

/// <summary><c>Workflows:Pools:&lt;name&gt;</c> = slots: how many attempts of steps in that pool may run at once, over all runs and hosts.</summary>
public sealed record PoolOptions(IReadOnlyDictionary<string, int> Sizes)
{
    public const string Section = "Workflows:Pools";

    public static PoolOptions Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var sizes = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var child in configuration.GetSection(Section).GetChildren())
        {
            if (!Pools.NamePattern().IsMatch(child.Key) || !int.TryParse(child.Value, out var size) || size is < 1 or > 100_000)
            {
                throw new InvalidConfigurationException($"{Section}:{child.Key}", "A pool is a name (lower-case letters, digits, '-', '_') with 1 to 100000 slots.");
            }

            sizes[child.Key] = size;
        }

        return new PoolOptions(sizes);
    }
}

/// <summary>One row per pool: updated first in every lease transaction, so the count of leases is read under the pool's lock.</summary>
public sealed class PoolRow
{
    public required string Name { get; set; }

    public long Revision { get; set; }
}

/// <summary>
/// A running attempt's slot in a pool. It expires unless the host running the attempt renews it,
/// so a host that dies frees its slots after <see cref="Pools.LeaseDuration"/> without anyone's help.
/// </summary>
public sealed class PoolLease
{
    public Guid AttemptId { get; set; }

    public required string Pool { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }
}

public static partial class Pools
{
    public static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an attempt that found its pool full waits before it tries again by itself. A slot given
    /// back by a finishing attempt is offered to the waiters at once (<c>RunEngine</c>); this timer is
    /// for slots freed by a lapsed lease, so it need not poll often.
    /// </summary>
    public static readonly TimeSpan RetryAfter = TimeSpan.FromSeconds(2);

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex NamePattern();

    /// <summary>
    /// Takes a slot for the attempt if one is free (expired leases do not count and are removed).
    /// Runs in its own transaction whose first statement locks the pool's row.
    /// </summary>
    public static async Task<bool> TryAcquireAsync(WorkflowsDbContext db, string pool, int size, Guid attemptId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (await db.Pools.Where(p => p.Name == pool).ExecuteUpdateAsync(u => u.SetProperty(p => p.Revision, p => p.Revision + 1), cancellationToken) == 0)
        {
            db.Pools.Add(new PoolRow { Name = pool, Revision = 1 });
            try
            {
                await db.SaveChangesAsync(cancellationToken);
            }
            catch (DbUpdateException)
            {
                // Created by another host at the same moment; the caller tries again later.
                db.ChangeTracker.Clear();
                return false;
            }
        }

        await db.PoolLeases.Where(l => l.Pool == pool && l.ExpiresAt < now).ExecuteDeleteAsync(cancellationToken);
        if (await db.PoolLeases.AnyAsync(l => l.AttemptId == attemptId, cancellationToken))
        {
            await transaction.CommitAsync(cancellationToken);
            return true;
        }

        if (await db.PoolLeases.CountAsync(l => l.Pool == pool, cancellationToken) >= size)
        {
            await transaction.CommitAsync(cancellationToken);
            return false;
        }

        db.PoolLeases.Add(new PoolLease { AttemptId = attemptId, Pool = pool, ExpiresAt = now + LeaseDuration });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    public static Task RenewAsync(WorkflowsDbContext db, Guid attemptId, DateTimeOffset now, CancellationToken cancellationToken) =>
        db.PoolLeases.Where(l => l.AttemptId == attemptId).ExecuteUpdateAsync(u => u.SetProperty(l => l.ExpiresAt, now + LeaseDuration), cancellationToken);

    public static Task ReleaseAsync(WorkflowsDbContext db, Guid attemptId, CancellationToken cancellationToken) =>
        db.PoolLeases.Where(l => l.AttemptId == attemptId).ExecuteDeleteAsync(cancellationToken);
}
