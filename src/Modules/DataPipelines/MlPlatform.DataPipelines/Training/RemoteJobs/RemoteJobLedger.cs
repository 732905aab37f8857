using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Persistence;

namespace MlPlatform.DataPipelines.Training.RemoteJobs;

/// <summary>
/// Which remote training jobs belong to which run. Backends are singletons and steps have no
/// DbContext, so each write takes a scope of its own.
/// </summary>
internal sealed class RemoteJobLedger(IServiceScopeFactory scopes)
{
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Stopped = "stopped";
    public const string StopRequested = "stop-requested";
    public const string NotRunning = "not-running";

    /// <summary>Records the job before it is created; a second record of one job (a re-run attempt following it) changes nothing.</summary>
    public async Task RecordAsync(TrainingJob job, string backend, string jobName, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
        if (await db.RemoteTrainingJobs.AnyAsync(j => j.Backend == backend && j.JobName == jobName, cancellationToken))
        {
            return;
        }

        db.RemoteTrainingJobs.Add(new RemoteTrainingJob
        {
            Id = Guid.CreateVersion7(),
            ProjectId = job.ProjectId,
            RunId = job.RunId,
            StepId = job.StepId,
            Attempt = job.Attempt,
            Backend = backend,
            JobName = jobName,
            CreatedAt = job.Clock.GetUtcNow(),
        });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Another attempt may have recorded the same job at the same moment; anything else is a real failure.
            db.ChangeTracker.Clear();
            if (!await db.RemoteTrainingJobs.AnyAsync(j => j.Backend == backend && j.JobName == jobName, CancellationToken.None))
            {
                throw;
            }
        }
    }

    /// <summary>The step saw the job end: a later cancel of the run need not stop it.</summary>
    public async Task FinishAsync(string backend, string jobName, string outcome, DateTimeOffset at, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
        await db.RemoteTrainingJobs
            .Where(j => j.Backend == backend && j.JobName == jobName && j.FinishedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(j => j.FinishedAt, at).SetProperty(j => j.Outcome, outcome), cancellationToken);
    }
}
