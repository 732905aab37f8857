using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Runs;

/// <summary>Runs one claimed attempt's step: resolves its parameters, calls its type, and says how it ended.</summary>
public static class AttemptExecutor
{
    /// <summary>
    /// Runs the step of a claimed attempt (the run and step as read at the claim). The attempt is
    /// stopped through <paramref name="execution"/>: its run ended, or its step timed out.
    /// <paramref name="known"/>: step rows the caller already holds (a finish hands over the steps it
    /// just recorded), used instead of reading the step's inputs when they are all among them.
    /// </summary>
    public static async Task<AttemptOutcome> RunAsync(IServiceProvider services, StepAttempt attempt, WorkflowRun run, RunStep step, Execution execution, IReadOnlyCollection<RunStep>? known, CancellationToken hostToken)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(step);
        ArgumentNullException.ThrowIfNull(execution);
        if (RunStates.IsTerminal(run.State))
        {
            return new AttemptOutcome.Cancelled(run.State == RunStates.Failed && run.Error is not null ? run.Error : "The run was cancelled.");
        }

        // A database context (a pooled lease) only when something must be read: usually nothing is.
        var definitions = services.GetRequiredService<DefinitionCache>();
        var definition = definitions.TryGet(run.WorkflowVersionId)
            ?? await definitions.GetAsync(services.GetRequiredService<WorkflowsDbContext>(), run.WorkflowVersionId, hostToken);
        var stepDefinition = RunEngine.StepsById(definition)[step.StepId];

        // Only the steps this one reads are loaded: its direct dependencies and those its templates
        // name (always upstream), not the whole run: a chain's step would otherwise read every step before it.
        var inputs = Inputs(definition)[step.StepId];
        var held = known?.Where(s => inputs.Contains(s.StepId)).ToList();
        var steps = inputs.Count == 0 ? []
            : held is not null && held.Count == inputs.Count ? held
            : await services.GetRequiredService<WorkflowsDbContext>().RunSteps.AsNoTracking()
                .Where(s => s.RunId == run.Id && inputs.Contains(s.StepId)).ToListAsync(hostToken);
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

        if (stepDefinition.Timeout is { } timeout)
        {
            execution.CancelAfter(timeout);
        }

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
            var result = await type.ExecuteAsync(context, execution.Token);
            outcome = result.Outcome == StepOutcome.Succeeded
                ? new AttemptOutcome.Succeeded(new JsonObject(result.Outputs.Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone()))))
                : new AttemptOutcome.Suspended(result.ResumeAt, result.State);
        }
        catch (OperationCanceledException) when (execution.Token.IsCancellationRequested)
        {
            if (execution.StopReason is { } runStopped)
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

        // The step-duration metric is recorded by the engine, which decides how the outcome counts (RunEngine.Record).
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

    private static readonly ConditionalWeakTable<WorkflowDefinition, Lazy<Dictionary<string, List<string>>>> InputsCache = [];

    /// <summary>
    /// Each step's direct dependencies and the steps its parameter templates name, computed once per
    /// cached definition, for all its steps at once (a fan-out's attempts would otherwise each take
    /// the table's lock to add their own step). Lazy, so the hundreds of attempts a fan-out starts at
    /// once wait for one computation instead of each making its own.
    /// </summary>
    private static Dictionary<string, List<string>> Inputs(WorkflowDefinition definition) =>
        InputsCache.GetValue(definition, d => new(() => d.Steps.ToDictionary(s => s.Id, s => InputsOf(d, s), StringComparer.Ordinal))).Value;

    private static List<string> InputsOf(WorkflowDefinition definition, StepDefinition s)
    {
        var names = new HashSet<string>(s.DependsOn, StringComparer.Ordinal);
        var pending = new Stack<JsonNode?>([s.Params]);
        while (pending.TryPop(out var node))
        {
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (_, child) in obj)
                    {
                        pending.Push(child);
                    }

                    break;
                case JsonArray array:
                    foreach (var child in array)
                    {
                        pending.Push(child);
                    }

                    break;
                case JsonValue value when value.TryGetValue<string>(out var text) && text.Contains("${", StringComparison.Ordinal)
                    && Templates.TryParse(text, out var parts, out _):
                    names.UnionWith(parts.Select(p => p.Reference).Where(r => r?.Kind == TemplateKind.StepOutput).Select(r => r!.Name));
                    break;
            }
        }

        // Only steps of this definition (the validator allows only upstream ones).
        names.IntersectWith(RunEngine.StepsById(definition).Keys);
        return [.. names];
    }
}
