using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Hosting;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.Predictions.Batch;

/// <summary>States of a batch job.</summary>
public static class BatchStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Queued, Running, Succeeded, Failed, Cancelled];
}

/// <summary>
/// Runs API batch jobs in the background under a lease: the host that claims a job writes itself
/// as owner with an expiry and renews it every third of the lease while the job runs; every write
/// of the run is conditional on still owning it. A job whose lease ran out lost its host: the
/// sweep of any host claims it again and starts it over (the output object is written only at the
/// end, so a restart overwrites it whole), counting the attempt and resetting the progress, until
/// <see cref="PredictionsSettings.BatchMaxAttempts"/> starts were lost and it fails instead.
/// </summary>
public sealed partial class BatchJobs(
    IServiceScopeFactory scopes,
    EndpointRouter router,
    BatchPredictor predictor,
    IObjectStore store,
    PredictionsSettings settings,
    TimeProvider clock,
    IHostApplicationLifetime lifetime,
    ILogger<BatchJobs> logger)
{
    /// <summary>This host's name; a lease's owner is it plus a tag of the run, so even two runs on one host never share a lease.</summary>
    public string Owner { get; } = $"{Truncate(Environment.MachineName, 100)}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    public void Start(Guid id) => _ = Task.Run(() => RunAsync(id));

    /// <summary>
    /// Fails the jobs that lost their host too often and starts again those whose lease ran out (or
    /// that stayed queued for a whole lease: their host died between accepting and starting them).
    /// Answers how many were started; another host's sweep may claim a job first, then this one skips it.
    /// A running job without a lease was started by a host from before leases: it counts as expired.
    /// </summary>
    public async Task<int> SweepAsync(CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var staleQueued = now - settings.BatchLeaseDuration;
        var max = settings.BatchMaxAttempts;
        var gaveUp = $"The job's host was lost {max} times while running it; it is not started again.";
        List<Guid> due;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
            var failed = await db.BatchJobs
                .Where(j => j.State == BatchStates.Running && (j.LeaseExpiresAt == null || j.LeaseExpiresAt < now) && j.Attempts >= max)
                .ExecuteUpdateAsync(
                    u => u.SetProperty(j => j.State, BatchStates.Failed)
                        .SetProperty(j => j.Error, gaveUp)
                        .SetProperty(j => j.FinishedAt, now)
                        .SetProperty(j => j.LeaseOwner, (string?)null)
                        .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null),
                    cancellationToken);
            if (failed > 0)
            {
                LogGaveUp(logger, failed, max);
            }

            due = await db.BatchJobs.AsNoTracking()
                .Where(j => (j.State == BatchStates.Running && (j.LeaseExpiresAt == null || j.LeaseExpiresAt < now)) || (j.State == BatchStates.Queued && j.CreatedAt < staleQueued))
                .OrderBy(j => j.CreatedAt)
                .Select(j => j.Id)
                .Take(16)
                .ToListAsync(cancellationToken);
        }

        foreach (var id in due)
        {
            LogResuming(logger, id);
            Start(id);
        }

        return due.Count;
    }

    private async Task RunAsync(Guid id)
    {
        var stopping = lifetime.ApplicationStopping;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
            var lease = $"{Owner}#{Guid.NewGuid():N}"[..(Owner.Length + 9)];
            if (!await ClaimAsync(db, id, lease, stopping))
            {
                return;
            }

            var job = await db.BatchJobs.AsNoTracking().SingleAsync(j => j.Id == id, stopping);
            // Cancelled when the lease is lost (the job was cancelled, or another host took it) or this host stops (the lease then expires and the job moves).
            using var run = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            using var renewing = new CancellationTokenSource();
            var renewal = RenewAsync(id, lease, run, renewing.Token);
            string state;
            string? error = null;
            var written = false;
            try
            {
                var endpoint = await router.GetAsync(job.Endpoint, run.Token) ?? throw new NotFoundException("Endpoint", job.Endpoint);
                var variant = endpoint.Variants.OrderByDescending(v => v.Weight).First();
                // The last progress report carries the final row count.
                await predictor.RunAsync(variant, job.InputKey, job.OutputKey, p =>
                {
                    written = p.Written;
                    return ProgressAsync(db, id, lease, p, run);
                }, run.Token);
                state = BatchStates.Succeeded;
            }
            catch (OperationCanceledException) when (run.IsCancellationRequested)
            {
                LogInterrupted(logger, id);
                if (written && !stopping.IsCancellationRequested)
                {
                    await DropCancelledOutputAsync(db, job);
                }

                return;
            }
            catch (Exception ex)
            {
                state = BatchStates.Failed;
                error = ex is PlatformException ? ex.Message : "The batch failed: " + ex.GetType().Name;
                LogFailed(logger, id, ex);
            }
            finally
            {
                await renewing.CancelAsync();
                await renewal;
            }

            var finished = clock.GetUtcNow();
            var closed = await db.BatchJobs.Where(j => j.Id == id && j.LeaseOwner == lease).ExecuteUpdateAsync(
                u => u.SetProperty(j => j.State, state)
                    .SetProperty(j => j.Error, error)
                    .SetProperty(j => j.FinishedAt, finished)
                    .SetProperty(j => j.LeaseOwner, (string?)null)
                    .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null),
                CancellationToken.None);
            if (closed == 0 && written)
            {
                await DropCancelledOutputAsync(db, job);
            }
        }
        catch (Exception ex) when (!stopping.IsCancellationRequested)
        {
            // The job's row could not be claimed or closed: its lease expires and a sweep takes it up.
            LogRunError(logger, id, ex);
        }
        catch (Exception)
        {
            // Stopping: the lease expires and another host's sweep resumes the job.
        }
    }

    /// <summary>
    /// A job cancelled (or deleted) in the moment between writing its output and reporting it keeps no
    /// output: this run wrote it, and a cancelled job is never run again. A lease lost to another host
    /// leaves it, since that host writes the same object whole.
    /// </summary>
    private async Task DropCancelledOutputAsync(PredictionsDbContext db, BatchJob job)
    {
        var state = await db.BatchJobs.AsNoTracking().Where(j => j.Id == job.Id).Select(j => j.State).SingleOrDefaultAsync(CancellationToken.None);
        if (state is null or BatchStates.Cancelled && !await BatchOutputs.SharedAsync(db, job, CancellationToken.None))
        {
            await store.DeleteAsync(job.OutputKey, CancellationToken.None);
        }
    }

    /// <summary>Takes the job if it is free (queued, or running under an expired lease) and may still be tried; one host wins.</summary>
    private async Task<bool> ClaimAsync(PredictionsDbContext db, Guid id, string lease, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var until = now + settings.BatchLeaseDuration;
        var max = settings.BatchMaxAttempts;
        var claimed = await db.BatchJobs
            .Where(j => j.Id == id && j.Attempts < max && (j.State == BatchStates.Queued || (j.State == BatchStates.Running && (j.LeaseExpiresAt == null || j.LeaseExpiresAt < now))))
            .ExecuteUpdateAsync(
                u => u.SetProperty(j => j.State, BatchStates.Running)
                    .SetProperty(j => j.LeaseOwner, lease)
                    .SetProperty(j => j.LeaseExpiresAt, until)
                    .SetProperty(j => j.Attempts, j => j.Attempts + 1)
                    // Started over from the first row: the progress says so.
                    .SetProperty(j => j.Rows, 0L)
                    .SetProperty(j => j.BytesRead, 0L)
                    .SetProperty(j => j.Error, (string?)null),
                cancellationToken);
        return claimed == 1;
    }

    private async Task ProgressAsync(PredictionsDbContext db, Guid id, string lease, BatchProgress progress, CancellationTokenSource run)
    {
        var written = await db.BatchJobs.Where(j => j.Id == id && j.LeaseOwner == lease).ExecuteUpdateAsync(
            u => u.SetProperty(j => j.Rows, progress.Rows)
                .SetProperty(j => j.BytesRead, progress.BytesRead)
                .SetProperty(j => j.InputBytes, progress.InputBytes),
            run.Token);
        if (written == 0)
        {
            // Another host owns the job now: stop writing over its progress.
            await run.CancelAsync();
            run.Token.ThrowIfCancellationRequested();
        }
    }

    private async Task RenewAsync(Guid id, string lease, CancellationTokenSource run, CancellationToken done)
    {
        using var timer = new PeriodicTimer(settings.BatchLeaseDuration / 3, clock);
        try
        {
            while (await timer.WaitForNextTickAsync(done))
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
                    var until = clock.GetUtcNow() + settings.BatchLeaseDuration;
                    var renewed = await db.BatchJobs
                        .Where(j => j.Id == id && j.LeaseOwner == lease && j.State == BatchStates.Running)
                        .ExecuteUpdateAsync(u => u.SetProperty(j => j.LeaseExpiresAt, until), done);
                    if (renewed == 0)
                    {
                        await run.CancelAsync();
                        return;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A failed renewal is tried again at the next tick; the lease still has two thirds to go.
                    LogRenewFailed(logger, id, ex);
                }
            }
        }
        catch (OperationCanceledException) when (done.IsCancellationRequested)
        {
            // The run is over.
        }
    }

    private static string Truncate(string text, int length) => text.Length <= length ? text : text[..length];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Batch prediction {Id} failed")]
    private static partial void LogFailed(ILogger logger, Guid id, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Batch prediction {Id}: it was cancelled, its lease is lost or the host stops; the run ends here")]
    private static partial void LogInterrupted(ILogger logger, Guid id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Batch prediction {Id} could not be claimed or finished")]
    private static partial void LogRunError(ILogger logger, Guid id, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing the lease of batch prediction {Id} failed")]
    private static partial void LogRenewFailed(ILogger logger, Guid id, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Batch prediction {Id} lost its host; starting it again")]
    private static partial void LogResuming(ILogger logger, Guid id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} batch prediction(s) lost their host {Max} times and were marked failed")]
    private static partial void LogGaveUp(ILogger logger, int count, int max);
}

/// <summary>Looks for batch jobs whose host was lost, every <see cref="PredictionsSettings.BatchSweepInterval"/>.</summary>
public sealed partial class BatchJobSweeper(BatchJobs jobs, PredictionsSettings settings, TimeProvider clock, ILogger<BatchJobSweeper> logger) : PeriodicWork(clock)
{
    protected override TimeSpan Interval => settings.BatchSweepInterval;

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => jobs.SweepAsync(cancellationToken);

    protected override void OnFailed(Exception exception) => LogSweepFailed(logger, exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Sweeping batch predictions for lost hosts failed")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
