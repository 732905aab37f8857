using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.Workflows.Persistence;
using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Triggers are scheduled after the transaction that created their attempts commits, so a host that
/// dies between the two leaves an attempt queued with no trigger. This job gives every attempt that
/// is overdue by more than <see cref="Grace"/> a new trigger. A second trigger for an attempt that
/// still had one is harmless: only one firing can claim the attempt.
/// </summary>
[DisallowConcurrentExecution]
public sealed class OrphanedAttemptSweep(WorkflowsDbContext db, RunEngine engine, TimeProvider clock, ILogger<OrphanedAttemptSweep> logger) : IJob
{
    public static readonly JobKey Key = new("orphaned-attempt-sweep", "workflows");

    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    /// <summary>Longer than a busy scheduler's usual delay, so healthy attempts are rarely triggered twice.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(60);

    private const int Batch = 500;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        await RunDeadlineJob.SweepAsync(db, engine, clock.GetUtcNow(), cancellationToken);
        WorkflowMetrics.SetActiveRuns(await db.Runs.CountAsync(r => r.State == RunStates.Waiting || r.State == RunStates.Queued || r.State == RunStates.Running, cancellationToken));
        var overdue = clock.GetUtcNow() - Grace;
        var orphans = await db.StepAttempts.AsNoTracking()
            .Where(a => a.State == AttemptStates.Queued && a.ScheduledFor < overdue)
            .OrderBy(a => a.ScheduledFor)
            .Take(Batch)
            .ToListAsync(cancellationToken);
        if (orphans.Count == 0)
        {
            return;
        }

#pragma warning disable CA1848 // Rare: once per sweep that finds something.
        logger.LogWarning("Re-triggering {Count} step attempts that were queued but never started", orphans.Count);
#pragma warning restore CA1848
        await engine.ScheduleAsync(orphans, cancellationToken);
    }
}
