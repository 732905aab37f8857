using Microsoft.EntityFrameworkCore;
using MlPlatform.Workflows.Persistence;
using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Fails a run that is still active at its deadline (the definition's <c>timeout</c>); running
/// attempts notice the run ended and are cancelled. Fired by a one-shot trigger per run; the
/// orphan sweep also catches runs whose trigger was lost.
/// </summary>
public sealed class RunDeadlineJob(RunEngine engine) : IJob
{
    public static readonly JobKey Key = new("run-deadline", "workflows");

    public const string RunKey = "run";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Guid.TryParse(context.MergedJobDataMap.GetString(RunKey), out var runId))
        {
            await engine.TimeOutAsync(runId, cancellationToken);
        }
    }

    /// <summary>Runs past their deadline whose trigger was lost (a host died between commit and scheduling).</summary>
    public static async Task SweepAsync(WorkflowsDbContext db, RunEngine engine, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(engine);
        var overdue = now - RunSweepJob.Grace;
        var runs = await db.Runs.AsNoTracking()
            .Where(r => (r.State == RunStates.Queued || r.State == RunStates.Running) && r.DeadlineAt != null && r.DeadlineAt < overdue)
            .OrderBy(r => r.DeadlineAt).Select(r => r.Id).Take(100).ToListAsync(cancellationToken);
        foreach (var runId in runs)
        {
            await engine.TimeOutAsync(runId, cancellationToken);
        }

        // Waiting runs whose admission was lost (a host died between a finish and the admission).
        var stale = now - RunSweepJob.Grace;
        var workflows = await db.Runs.AsNoTracking().Where(r => r.State == RunStates.Waiting && r.CreatedAt < stale)
            .Select(r => r.WorkflowId).Distinct().OrderBy(id => id).Take(100).ToListAsync(cancellationToken);
        foreach (var workflowId in workflows)
        {
            await engine.AdmitAsync(workflowId, cancellationToken);
        }
    }
}
