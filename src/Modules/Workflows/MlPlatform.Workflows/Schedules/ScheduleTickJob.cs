using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;
using Quartz;
using OverlapPolicy = MlPlatform.Workflows.Definitions.OverlapPolicy;

namespace MlPlatform.Workflows.Schedules;

/// <summary>
/// Fires due schedules. Each fire is claimed by moving the schedule's next fire time with a
/// conditional update in the same transaction that adds the runs, so of two clustered hosts only
/// one starts them, and a host dying mid-fire leaves the fire time due for the next tick.
/// <list type="bullet">
/// <item>Catch-up on: one run per missed fire time (up to <see cref="MaxCatchUp"/> per tick); off: one run for the latest missed time, older ones are dropped.</item>
/// <item>Overlap <c>skip</c>: no run while a scheduled run of the workflow is active (the fire time is counted as skipped);
/// <c>allow</c>: start anyway; <c>cancelPrevious</c>: cancel active scheduled runs, then start.</item>
/// </list>
/// </summary>
[DisallowConcurrentExecution]
public sealed class ScheduleTickJob(IServiceScopeFactory scopes, TimeProvider clock, ILogger<ScheduleTickJob> logger) : IJob
{
    public static readonly JobKey Key = new("schedule-tick", "workflows");

    public const int MaxCatchUp = 100;

    private const int Batch = 20;

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        var now = clock.GetUtcNow();
        List<Guid> due;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            due = await db.Schedules.AsNoTracking()
                .Where(s => !s.Paused && s.NextFireAt != null && s.NextFireAt <= now)
                .OrderBy(s => s.NextFireAt).Take(Batch).Select(s => s.WorkflowId).ToListAsync(cancellationToken);
        }

        foreach (var workflowId in due)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                await FireAsync(scope.ServiceProvider, workflowId, now, cancellationToken);
            }
#pragma warning disable CA1031 // One broken schedule must not stop the others.
            catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
            {
#pragma warning disable CA1848 // Rare.
                logger.LogError(ex, "Could not fire the schedule of workflow {WorkflowId}", workflowId);
#pragma warning restore CA1848
            }
        }
    }

    private static async Task FireAsync(IServiceProvider services, Guid workflowId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var db = services.GetRequiredService<WorkflowsDbContext>();
        var engine = services.GetRequiredService<RunEngine>();
        var starter = services.GetRequiredService<RunStarter>();
        var schedule = await db.Schedules.AsNoTracking().SingleOrDefaultAsync(s => s.WorkflowId == workflowId, cancellationToken);
        var workflow = await db.Workflows.AsNoTracking().SingleOrDefaultAsync(w => w.Id == workflowId, cancellationToken);
        if (schedule?.NextFireAt is not { } due || workflow is null || workflow.DeletedAt is not null)
        {
            return;
        }

        var (version, definition) = await starter.LatestAsync(workflow, cancellationToken);
        List<DateTimeOffset> fires;
        DateTimeOffset? next;
        if (schedule.CatchUp)
        {
            fires = ScheduleMath.Between(schedule.Cron, schedule.TimeZone, due, now, MaxCatchUp);
            fires = fires.Take(MaxCatchUp).ToList();
            next = ScheduleMath.Next(schedule.Cron, schedule.TimeZone, fires[^1]);
        }
        else
        {
            // Only the latest missed time; a long downtime is searched from a week back at most.
            var from = due < now.AddDays(-7) ? now.AddDays(-7) : due;
            var latest = ScheduleMath.Cron(schedule.Cron).GetOccurrences(from, now, ScheduleMath.Zone(schedule.TimeZone), true, true).LastOrDefault();
            fires = [latest == default ? due : latest.ToUniversalTime()];
            next = ScheduleMath.Next(schedule.Cron, schedule.TimeZone, now);
        }

        var overlap = definition.Schedule?.Overlap ?? OverlapPolicy.Skip;
        if (overlap == OverlapPolicy.CancelPrevious)
        {
            var previous = await ActiveScheduledRuns(db, workflowId).Select(r => r.Id).ToListAsync(cancellationToken);
            foreach (var runId in previous)
            {
                await engine.CancelAsync(runId, cancellationToken);
            }
        }

        var started = new List<(WorkflowRun Run, List<StepAttempt> Attempts)>();
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.ChangeTracker.Clear();
            var claimed = await db.Schedules
                .Where(s => s.WorkflowId == workflowId && s.NextFireAt == due && !s.Paused)
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.NextFireAt, next).SetProperty(s => s.LastFireAt, fires[^1]), cancellationToken);
            if (claimed == 0)
            {
                return;
            }

            var active = overlap == OverlapPolicy.Skip ? await ActiveScheduledRuns(db, workflowId).CountAsync(cancellationToken) : 0;
            var skipped = 0;
            foreach (var fire in fires)
            {
                if (overlap == OverlapPolicy.Skip && active > 0)
                {
                    skipped++;
                    continue;
                }

                var run = starter.NewRun(workflow, version, definition, null, RunTriggers.Schedule, fire, null);
                started.Add((run, engine.Prepare(run, definition)));
                active++;
            }

            if (skipped > 0)
            {
                await db.Schedules.Where(s => s.WorkflowId == workflowId)
                    .ExecuteUpdateAsync(u => u.SetProperty(s => s.SkippedFires, s => s.SkippedFires + skipped), cancellationToken);
            }

            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        foreach (var (run, attempts) in started)
        {
            await engine.AfterCommitAsync(run, attempts, cancellationToken);
        }
    }

    private static IQueryable<WorkflowRun> ActiveScheduledRuns(WorkflowsDbContext db, Guid workflowId) =>
        db.Runs.Where(r => r.WorkflowId == workflowId && r.Trigger == RunTriggers.Schedule && (r.State == RunStates.Waiting || r.State == RunStates.Queued || r.State == RunStates.Running));
}
