using System.Text.Json.Nodes;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.Workflows.Contracts.StepTypes;

/// <summary>What one attempt of one step gets from the engine.</summary>
public sealed class StepContext
{
    public required Guid RunId { get; init; }

    public required Guid ProjectId { get; init; }

    /// <summary>The step's id in the definition.</summary>
    public required string StepId { get; init; }

    /// <summary>1 for the first attempt; a retry or a re-run after a host died counts up.</summary>
    public required int Attempt { get; init; }

    /// <summary>The step's params with templates resolved and defaults filled in.</summary>
    public required JsonObject Parameters { get; init; }

    /// <summary>Outputs of the steps upstream of this one, by step id.</summary>
    public required IReadOnlyDictionary<string, JsonObject> UpstreamOutputs { get; init; }

    /// <summary>Writes to this attempt's log (stored and followed live).</summary>
    public required IStepLogger Log { get; init; }

    /// <summary>The artifact store; keys for a run's files conventionally start with <c>runs/{runId}/</c>.</summary>
    public required IObjectStore Artifacts { get; init; }

    public required TimeProvider Clock { get; init; }

    /// <summary>
    /// What the step returned with <see cref="StepResult.Suspend"/> the last time it ran in this
    /// attempt; null on first entry.
    /// </summary>
    public JsonNode? State { get; init; }

    /// <summary>A signal delivered to a suspended step (an approval decision, say); null if none.</summary>
    public JsonObject? Signal { get; init; }
}

/// <summary>A step attempt's log.</summary>
public interface IStepLogger
{
    void Write(StepLogLevel level, string message);
}

public enum StepLogLevel
{
    Debug,
    Info,
    Warning,
    Error,
}

public static class StepLoggerExtensions
{
    public static void Info(this IStepLogger log, string message) => log.Write(StepLogLevel.Info, message);

    public static void Warning(this IStepLogger log, string message) => log.Write(StepLogLevel.Warning, message);

    public static void Error(this IStepLogger log, string message) => log.Write(StepLogLevel.Error, message);
}

public enum StepOutcome
{
    Succeeded,

    /// <summary>Not finished: the engine keeps the attempt open and runs the step again at <see cref="StepResult.ResumeAt"/> or on a signal.</summary>
    Suspended,
}

/// <summary>
/// What an attempt ended with. Outputs are small JSON values (artifact URIs, metrics); large data
/// goes to the artifact store. A suspended step holds no thread or lease while it waits.
/// </summary>
public sealed class StepResult
{
    private static readonly IReadOnlyDictionary<string, JsonNode?> NoOutputs = new Dictionary<string, JsonNode?>();

    private StepResult(StepOutcome outcome, IReadOnlyDictionary<string, JsonNode?> outputs, DateTimeOffset? resumeAt, JsonNode? state)
    {
        Outcome = outcome;
        Outputs = outputs;
        ResumeAt = resumeAt;
        State = state;
    }

    public StepOutcome Outcome { get; }

    public IReadOnlyDictionary<string, JsonNode?> Outputs { get; }

    /// <summary>When to run a suspended step again; null to wait for a signal only.</summary>
    public DateTimeOffset? ResumeAt { get; }

    /// <summary>Handed back as <see cref="StepContext.State"/> when the step resumes.</summary>
    public JsonNode? State { get; }

    public static StepResult Succeeded(IReadOnlyDictionary<string, JsonNode?>? outputs = null) =>
        new(StepOutcome.Succeeded, outputs ?? NoOutputs, null, null);

    public static StepResult Suspend(DateTimeOffset? resumeAt, JsonNode? state = null) =>
        new(StepOutcome.Suspended, NoOutputs, resumeAt, state);
}
