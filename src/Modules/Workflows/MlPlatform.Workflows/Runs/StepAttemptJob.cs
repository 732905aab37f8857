using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Persistence;
using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Runs one step attempt. One durable job for all attempts; each attempt has its own one-shot
/// trigger carrying its id. <c>RequestRecovery</c>: when a host dies mid-attempt, Quartz fires the
/// trigger again (on a clustered peer or at restart), and the attempt is recorded as failed by the
/// dead host and retried as a new attempt.
/// </summary>
public sealed class StepAttemptJob(IServiceScopeFactory scopes, ILogger<StepAttemptJob> logger) : IJob
{
    public static readonly JobKey Key = new("step-attempt", "workflows");

    /// <summary>How often a running attempt checks whether its run was cancelled (possibly by another host).</summary>
    private static readonly TimeSpan CancelPoll = TimeSpan.FromMilliseconds(250);

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!Guid.TryParse(context.MergedJobDataMap.GetString(RunEngine.AttemptKey), out var attemptId))
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var engine = services.GetRequiredService<RunEngine>();
        var db = services.GetRequiredService<WorkflowsDbContext>();
        if (!await engine.ClaimAsync(attemptId, cancellationToken))
        {
            if (context.Recovering)
            {
                // Still "running" after a recovery: the host that ran it died; retry it as a new attempt.
                await engine.FinishAsync(attemptId, new AttemptOutcome.Failed("The host running this attempt stopped.", Retryable: true, HostLost: true), cancellationToken);
            }

            return;
        }

        AttemptOutcome outcome;
        try
        {
            outcome = await RunAsync(services, db, attemptId, cancellationToken);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The host is stopping before the step ran: record it, or the attempt would stay "running"
            // with no job left to finish it (a graceful stop is no crash, so Quartz will not recover it).
            outcome = new AttemptOutcome.Failed("The host stopped before the step ran.", Retryable: true, HostLost: true);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Step attempt {AttemptId} could not be run", attemptId);
            outcome = new AttemptOutcome.Failed("The engine could not run the step: " + ex.Message, Retryable: true);
        }

        // The outcome is recorded even when the host is stopping: it has already happened.
        await engine.FinishAsync(attemptId, outcome, CancellationToken.None);
    }

    private static async Task<AttemptOutcome> RunAsync(IServiceProvider services, WorkflowsDbContext db, Guid attemptId, CancellationToken hostToken)
    {
        var attempt = await db.StepAttempts.AsNoTracking().SingleAsync(a => a.Id == attemptId, hostToken);
        var run = await db.Runs.AsNoTracking().SingleAsync(r => r.Id == attempt.RunId, hostToken);
        if (RunStates.IsTerminal(run.State))
        {
            return new AttemptOutcome.Cancelled("The run was cancelled.");
        }

        var step = await db.RunSteps.AsNoTracking().SingleAsync(s => s.Id == attempt.RunStepId, hostToken);
        var definition = await services.GetRequiredService<DefinitionCache>().GetAsync(db, run.WorkflowVersionId, hostToken);
        var stepDefinition = RunEngine.StepsById(definition)[step.StepId];

        // Templates may only name upstream steps, so only those are read (not the whole run).
        var upstream = Upstream(definition, step.StepId);
        var steps = upstream.Count == 0
            ? []
            : await db.RunSteps.AsNoTracking().Where(s => s.RunId == run.Id && upstream.Contains(s.StepId)).ToListAsync(hostToken);
        var type = services.GetRequiredService<IStepTypeRegistry>().Find(stepDefinition.Type);
        if (type is null)
        {
            return new AttemptOutcome.Failed($"The step type '{stepDefinition.Type}' is not registered on this host.", Retryable: false);
        }

        JsonObject parameters;
        var scope = RunEngine.Scope(run, steps);
        try
        {
            parameters = StepParameterSchema.WithDefaults(type.Parameters, RunTemplates.Resolve(stepDefinition.Params, scope));
        }
        catch (StepFailedException ex)
        {
            return new AttemptOutcome.Failed(ex.Message, ex.Retryable);
        }

        using var attemptToken = CancellationTokenSource.CreateLinkedTokenSource(hostToken);
        if (stepDefinition.Timeout is { } timeout)
        {
            attemptToken.CancelAfter(timeout);
        }

        string? runStopped = null;
        using var stopWatching = new CancellationTokenSource();
        var watcher = WatchForCancelAsync(services, run.Id, attempt.Pool is null ? null : attempt.Id, attemptToken, reason => runStopped = reason, stopWatching.Token);
        await using var log = new StoredStepLogger(
            services.GetRequiredService<IServiceScopeFactory>(),
            services.GetRequiredService<ILoggerFactory>().CreateLogger("MlPlatform.Workflows.Steps"),
            services.GetRequiredService<TimeProvider>(),
            run.Id,
            attempt.Id,
            step.StepId,
            attempt.Number);
        var context = new StepContext
        {
            RunId = run.Id,
            ProjectId = run.ProjectId,
            StepId = step.StepId,
            Attempt = attempt.Number,
            Parameters = parameters,
            UpstreamOutputs = scope.Outputs,
            Log = log,
            Artifacts = services.GetRequiredService<IObjectStore>(),
            Clock = services.GetRequiredService<TimeProvider>(),
            State = attempt.SuspendState is null ? null : JsonNode.Parse(attempt.SuspendState),
            Signal = attempt.Signal is null ? null : JsonNode.Parse(attempt.Signal) as JsonObject,
        };
        var began = services.GetRequiredService<TimeProvider>().GetUtcNow();
        WorkflowMetrics.StepStarted(began - attempt.ScheduledFor);
        AttemptOutcome outcome;
        try
        {
            var result = await type.ExecuteAsync(context, attemptToken.Token);
            outcome = result.Outcome == StepOutcome.Succeeded
                ? new AttemptOutcome.Succeeded(new JsonObject(result.Outputs.Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))))
                : new AttemptOutcome.Suspended(result.ResumeAt, result.State);
        }
        catch (OperationCanceledException) when (attemptToken.IsCancellationRequested)
        {
            if (runStopped is not null)
            {
                outcome = new AttemptOutcome.Cancelled(runStopped);
            }
            else
            {
                outcome = hostToken.IsCancellationRequested
                    ? new AttemptOutcome.Failed("The host stopped during the attempt.", Retryable: true, HostLost: true)
                    : new AttemptOutcome.Failed($"Timed out after {Durations.Format(stepDefinition.Timeout!.Value)}.", Retryable: true);
            }
        }
        catch (StepFailedException ex)
        {
            outcome = new AttemptOutcome.Failed(ex.Message, ex.Retryable);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            outcome = new AttemptOutcome.Failed($"{ex.GetType().Name}: {ex.Message}", Retryable: true);
        }
        finally
        {
            await stopWatching.CancelAsync();
            await watcher;
        }

        WorkflowMetrics.StepFinished(stepDefinition.Type, outcome switch
        {
            AttemptOutcome.Succeeded => "succeeded",
            AttemptOutcome.Suspended => "suspended",
            AttemptOutcome.Cancelled => "cancelled",
            _ => "failed",
        }, services.GetRequiredService<TimeProvider>().GetUtcNow() - began);

        // The log shows why an attempt ended badly; the lines are stored before the outcome is.
        switch (outcome)
        {
            case AttemptOutcome.Failed failed:
                log.Error(failed.Error);
                break;
            case AttemptOutcome.Cancelled cancelled:
                log.Warning(cancelled.Reason);
                break;
        }

        return outcome;
    }

    /// <summary>The steps this one depends on, directly or not.</summary>
    private static List<string> Upstream(Definitions.WorkflowDefinition definition, string stepId)
    {
        var byId = RunEngine.StepsById(definition);
        if (byId[stepId].DependsOn.Count == 0)
        {
            return [];
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>(byId[stepId].DependsOn);
        while (pending.TryPop(out var id))
        {
            if (seen.Add(id))
            {
                foreach (var next in byId[id].DependsOn)
                {
                    pending.Push(next);
                }
            }
        }

        return [.. seen];
    }

    /// <summary>
    /// Cancels the attempt's token when its run is cancelled, wherever the cancel was accepted, and
    /// renews the attempt's pool lease. Only steps that run longer than one poll interval pay for a query.
    /// </summary>
    private static async Task WatchForCancelAsync(IServiceProvider services, Guid runId, Guid? pooledAttempt, CancellationTokenSource attempt, Action<string> stopped, CancellationToken stop)
    {
        try
        {
            await using var scope = services.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            var clock = services.GetRequiredService<TimeProvider>();
            var renewed = clock.GetUtcNow();
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(CancelPoll, stop);
                if (pooledAttempt is { } pooled && clock.GetUtcNow() - renewed >= Concurrency.Pools.RenewEvery)
                {
                    // The slot stays this host's while it runs the attempt; if the host dies, it expires.
                    renewed = clock.GetUtcNow();
                    await Concurrency.Pools.RenewAsync(db, pooled, renewed, stop);
                }

                var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.State, r.Error }).SingleAsync(stop);
                if (RunStates.IsTerminal(run.State))
                {
                    // Cancelled, or failed by its timeout.
                    stopped(run.State == RunStates.Failed && run.Error is not null ? run.Error : "The run was cancelled.");
                    await attempt.CancelAsync();
                    return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The attempt ended first.
        }
    }
}
