using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.DataPipelines.Training.SageMaker;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Contracts.Runs;

namespace MlPlatform.DataPipelines.Training.RemoteJobs;

/// <summary>
/// Stops the remote training jobs of a run that ended while a step was suspended between polls (the
/// engine does not call that step again, so only this event can reach its job). Each job still
/// marked running gets StopTrainingJob; a job that is not in progress any more answers
/// ValidationException and is only marked. A transient failure throws, so the event is redelivered;
/// the inbox mark makes a redelivery after success change nothing.
/// </summary>
internal sealed partial class RemoteJobStopper(SageMakerClient sageMaker, TimeProvider clock, ILogger<RemoteJobStopper> logger)
{
    public async Task StopRunJobsAsync(DataPipelinesDbContext db, Guid runId, string reason, CancellationToken cancellationToken)
    {
        var jobs = await db.RemoteTrainingJobs
            .Where(j => j.RunId == runId && j.FinishedAt == null && j.Backend == SageMakerTrainingBackend.BackendName)
            .ToListAsync(cancellationToken);
        foreach (var job in jobs)
        {
            try
            {
                await sageMaker.StopTrainingJobAsync(job.JobName, cancellationToken);
                job.Outcome = RemoteJobLedger.StopRequested;
                LogStopped(logger, job.JobName, runId, reason);
            }
            catch (SageMakerException ex) when (ex.Type is "ValidationException" or "ResourceNotFound")
            {
                // Completed, failed, already stopping, or never created: nothing runs any more.
                job.Outcome = RemoteJobLedger.NotRunning;
                LogNotRunning(logger, job.JobName, runId, ex.Reason);
            }

            job.FinishedAt = clock.GetUtcNow();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Asked SageMaker to stop training job {Job} of run {Run}, which was {Reason}")]
    private static partial void LogStopped(ILogger logger, string job, Guid run, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "SageMaker training job {Job} of run {Run} was not running: {Reason}")]
    private static partial void LogNotRunning(ILogger logger, string job, Guid run, string reason);
}

/// <summary>A user cancelled the run: stop its remote training jobs.</summary>
internal sealed class StopRemoteJobsOnRunCancelled(DataPipelinesDbContext db, RemoteJobStopper stopper, TimeProvider clock)
    : IdempotentEventHandler<RunCancelled, DataPipelinesDbContext>(db, clock)
{
    protected override Task Apply(RunCancelled integrationEvent, CancellationToken cancellationToken) =>
        stopper.StopRunJobsAsync(Db, integrationEvent.RunId, "cancelled", cancellationToken);
}

/// <summary>The run failed (for instance it ran past its timeout): stop its remote training jobs that still run.</summary>
internal sealed class StopRemoteJobsOnRunFailed(DataPipelinesDbContext db, RemoteJobStopper stopper, TimeProvider clock)
    : IdempotentEventHandler<RunFailed, DataPipelinesDbContext>(db, clock)
{
    protected override Task Apply(RunFailed integrationEvent, CancellationToken cancellationToken) =>
        stopper.StopRunJobsAsync(Db, integrationEvent.RunId, "failed", cancellationToken);
}
