using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Retired: attempts are swept by every host's <see cref="AttemptDispatcher"/> now. A database
/// written by an earlier version still stores this job with its trigger; the first firing deletes
/// both, so the store holds no job whose class is gone.
/// </summary>
public sealed class OrphanedAttemptSweep : IJob
{
    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        await context.Scheduler.DeleteJob(context.JobDetail.Key, cancellationToken);
    }
}
