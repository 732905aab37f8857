using Microsoft.EntityFrameworkCore;
using MlPlatform.Workflows.Persistence;
using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Every <see cref="Interval"/> on one host of the cluster: fails runs past their deadline whose
/// trigger was lost, admits waiting runs whose admission was lost (a host died between the commit and
/// the follow-up), and counts the active runs for the gauge. Attempts have their own sweep, in the
/// <see cref="AttemptDispatcher"/> of every host.
/// </summary>
[DisallowConcurrentExecution]
public sealed class RunSweepJob(WorkflowsDbContext db, RunEngine engine, TimeProvider clock) : IJob
{
    public static readonly JobKey Key = new("run-sweep", "workflows");

    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    /// <summary>Longer than a busy host's usual delay, so healthy work is rarely touched twice.</summary>
    public static readonly TimeSpan Grace = TimeSpan.FromSeconds(60);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        await RunDeadlineJob.SweepAsync(db, engine, clock.GetUtcNow(), cancellationToken);
        WorkflowMetrics.SetActiveRuns(await db.Runs.CountAsync(r => r.State == RunStates.Waiting || r.State == RunStates.Queued || r.State == RunStates.Running, cancellationToken));
    }
}
