using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Fails its first <c>failures</c> attempts of each run, then succeeds with the attempt number.</summary>
public sealed class FlakyStep : StepType
{
    private readonly ConcurrentDictionary<(Guid, string), int> _calls = new();

    public override string Name => "test.flaky";

    public override string Description => "Fails the first 'failures' attempts of a run, then succeeds.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("failures", ParameterType.Int, Required: true, Description: "How many attempts fail."),
    ];

    /// <summary>Numbers read from a stored definition may be held as long or double.</summary>
    public static int Number(JsonNode? value) => ParameterTypes.TryGetNumber(value, out var n) ? (int)n : 0;

    public override Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var calls = _calls.AddOrUpdate((context.RunId, context.StepId), 1, (_, n) => n + 1);
        if (calls <= Number(context.Parameters["failures"]))
        {
            throw new StepFailedException($"failing on purpose ({calls})");
        }

        return Task.FromResult(StepResult.Succeeded(new Dictionary<string, JsonNode?> { ["attempt"] = context.Attempt }));
    }
}

/// <summary>Sleeps for <c>ms</c> milliseconds, honouring the token (for timeouts, cancels and overlap).</summary>
public sealed class SleepStep : StepType
{
    public override string Name => "test.sleep";

    public override string Description => "Sleeps for 'ms' milliseconds.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("ms", ParameterType.Int, Required: true, Description: "How long to sleep."),
    ];

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await Task.Delay(FlakyStep.Number(context.Parameters["ms"]), cancellationToken);
        return StepResult.Succeeded();
    }
}

/// <summary>The run events a host delivered through its outbox, for tests to wait on.</summary>
public sealed class RunEventLog :
    MlPlatform.SharedKernel.Messaging.IIntegrationEventHandler<MlPlatform.Workflows.Contracts.Runs.RunStarted>,
    MlPlatform.SharedKernel.Messaging.IIntegrationEventHandler<MlPlatform.Workflows.Contracts.Runs.RunSucceeded>,
    MlPlatform.SharedKernel.Messaging.IIntegrationEventHandler<MlPlatform.Workflows.Contracts.Runs.RunFailed>,
    MlPlatform.SharedKernel.Messaging.IIntegrationEventHandler<MlPlatform.Workflows.Contracts.Runs.StepFailed>,
    MlPlatform.SharedKernel.Messaging.IIntegrationEventHandler<MlPlatform.Workflows.Contracts.Runs.ApprovalRequested>
{
    public ConcurrentQueue<(string Type, Guid RunId, string? Step)> Events { get; } = new();

    public Task Handle(MlPlatform.Workflows.Contracts.Runs.RunStarted integrationEvent, CancellationToken cancellationToken) =>
        Add("RunStarted", integrationEvent.RunId, null);

    public Task Handle(MlPlatform.Workflows.Contracts.Runs.RunSucceeded integrationEvent, CancellationToken cancellationToken) =>
        Add("RunSucceeded", integrationEvent.RunId, null);

    public Task Handle(MlPlatform.Workflows.Contracts.Runs.RunFailed integrationEvent, CancellationToken cancellationToken) =>
        Add("RunFailed", integrationEvent.RunId, null);

    public Task Handle(MlPlatform.Workflows.Contracts.Runs.StepFailed integrationEvent, CancellationToken cancellationToken) =>
        Add("StepFailed", integrationEvent.RunId, $"{integrationEvent.StepId}#{integrationEvent.Attempt}");

    public Task Handle(MlPlatform.Workflows.Contracts.Runs.ApprovalRequested integrationEvent, CancellationToken cancellationToken) =>
        Add("ApprovalRequested", integrationEvent.RunId, $"{integrationEvent.StepId}:{string.Join('|', integrationEvent.Roles)}");

    private Task Add(string type, Guid runId, string? step)
    {
        Events.Enqueue((type, runId, step));
        return Task.CompletedTask;
    }

    /// <summary>
    /// The events of one run once all of <paramref name="expected"/> arrived (or after 30 s). Events of
    /// one transaction are not delivered in a promised order, so compare them as a set.
    /// </summary>
    public async Task<List<string>> WaitForAsync(Guid runId, params string[] expected)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        List<string> seen;
        while (true)
        {
            seen = Events.Where(e => e.RunId == runId).Select(e => e.Step is null ? e.Type : $"{e.Type}:{e.Step}").ToList();
            if (expected.All(seen.Contains) || clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                return seen;
            }

            await Task.Delay(50);
        }
    }
}

/// <summary>Counts its executions per run and step on this host (one instance per host), sleeping 'ms' first.</summary>
public sealed class CountingStep : StepType
{
    public ConcurrentDictionary<(Guid RunId, string StepId), int> Executions { get; } = new();

    public override string Name => "test.count";

    public override string Description => "Counts its executions on this host.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("ms", ParameterType.Int, Default: JsonValue.Create(0), Description: "How long to sleep."),
    ];

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        Executions.AddOrUpdate((context.RunId, context.StepId), 1, (_, n) => n + 1);
        await Task.Delay(FlakyStep.Number(context.Parameters["ms"]), cancellationToken);
        return StepResult.Succeeded();
    }
}

/// <summary>Writes 'lines' log lines, 'ms' milliseconds apart, then succeeds (or fails with 'fail').</summary>
public sealed class LogStep : StepType
{
    public override string Name => "test.log";

    public override string Description => "Writes numbered log lines.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("lines", ParameterType.Int, Required: true, Description: "How many lines."),
        new("ms", ParameterType.Int, Default: JsonValue.Create(0), Description: "Pause between lines."),
        new("fail", ParameterType.Bool, Default: JsonValue.Create(false), Description: "Fail at the end."),
    ];

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var lines = FlakyStep.Number(context.Parameters["lines"]);
        var pause = FlakyStep.Number(context.Parameters["ms"]);
        for (var i = 1; i <= lines; i++)
        {
            context.Log.Info($"line {i}");
            if (pause > 0)
            {
                await Task.Delay(pause, cancellationToken);
            }
        }

        if (context.Parameters["fail"] is JsonValue fail && fail.GetValue<bool>())
        {
            throw new StepFailedException("failing after the lines", retryable: false);
        }

        return StepResult.Succeeded();
    }
}

/// <summary>
/// Runs until the test lets it go (<see cref="Release"/>), ignoring its cancellation token, then
/// succeeds: a step whose outcome arrives after its run was stopped, without any sleep to time.
/// Attempts numbered above 'holdAttempts' succeed at once.
/// </summary>
public sealed class HoldStep : StepType
{
    private readonly ConcurrentDictionary<(Guid RunId, string StepId, int Attempt), TaskCompletionSource> _gates = new();

    public override string Name => "test.hold";

    public override string Description => "Runs until the test releases it, ignoring cancellation, then succeeds.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("holdAttempts", ParameterType.Int, Default: JsonValue.Create(1), Description: "How many of the step's attempts are held."),
    ];

    private TaskCompletionSource Gate(Guid runId, string stepId, int attempt) =>
        _gates.GetOrAdd((runId, stepId, attempt), _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    /// <summary>Lets the held attempt of the step finish (succeed).</summary>
    public void Release(Guid runId, string stepId, int attempt = 1) => Gate(runId, stepId, attempt).TrySetResult();

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Attempt <= FlakyStep.Number(context.Parameters["holdAttempts"]))
        {
            // The token is ignored on purpose: the step finishes only when released.
            await Gate(context.RunId, context.StepId, context.Attempt).Task.WaitAsync(TimeSpan.FromSeconds(60), CancellationToken.None);
        }

        return StepResult.Succeeded(new Dictionary<string, JsonNode?> { ["late"] = true });
    }
}
