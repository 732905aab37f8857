using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.Definitions;

/// <summary>
/// A workflow definition as submitted (JSON or YAML), after reading. One version of a workflow
/// stores exactly this, normalized (<see cref="DefinitionJson"/>).
/// </summary>
public sealed record WorkflowDefinition(
    string Name,
    string? Description,
    IReadOnlyList<WorkflowParameter> Parameters,
    IReadOnlyList<StepDefinition> Steps,
    ScheduleDefinition? Schedule,
    int? MaxActiveRuns)
{
    /// <summary>A run still active this long after it was created fails (its running steps are cancelled).</summary>
    public TimeSpan? Timeout { get; init; }

    /// <summary>Rules that start a run when an integration event of the project arrives.</summary>
    public IReadOnlyList<Triggers.EventTrigger> Triggers { get; init; } = [];
}

/// <summary>A run parameter; one without a default must be given when a run starts.</summary>
public sealed record WorkflowParameter(string Name, ParameterType Type, JsonNode? Default, string? Description);

public sealed record StepDefinition(
    string Id,
    string Type,
    JsonObject Params,
    IReadOnlyList<string> DependsOn,
    RetryPolicy? Retries,
    TimeSpan? Timeout,
    string? When)
{
    /// <summary>A named concurrency pool (Workflows:Pools:&lt;name&gt; slots, shared by every run on every host) an attempt holds a lease in while it runs.</summary>
    public string? Pool { get; init; }
}

/// <summary>
/// Up to <see cref="Max"/> retries after the first attempt; the n-th retry waits about
/// <see cref="Backoff"/> × 2^(n-1), with jitter, and never longer than <see cref="MaxDelay"/>.
/// </summary>
public sealed record RetryPolicy(int Max, TimeSpan Backoff, TimeSpan MaxDelay)
{
    public static readonly TimeSpan DefaultBackoff = TimeSpan.FromSeconds(10);
    public static readonly TimeSpan DefaultMaxDelay = TimeSpan.FromMinutes(10);
}

/// <summary>What a schedule does when a fire time comes while an earlier scheduled run is still active.</summary>
public enum OverlapPolicy
{
    /// <summary>Skip this fire time (the default).</summary>
    Skip,

    /// <summary>Start another run (still bounded by maxActiveRuns).</summary>
    Allow,

    /// <summary>Cancel the active run(s) and start the new one.</summary>
    CancelPrevious,
}

/// <summary>
/// A cron schedule in an IANA time zone. <see cref="CatchUp"/>: after downtime, start one run per
/// missed fire time (true) or only continue from now (false, the default).
/// </summary>
public sealed record ScheduleDefinition(string Cron, string TimeZone, OverlapPolicy Overlap, bool CatchUp);

public static partial class DefinitionRules
{
    public const int MaxSteps = 25_000;
    public const int MaxParameters = 200;
    public const int MaxDescriptionLength = 2_000;
    public const int MaxRetries = 100;
    public const int MaxActiveRunsLimit = 10_000;
    public const int MaxWhenLength = 2_000;

    /// <summary>Workflow names go into URLs and headers: as project names.</summary>
    [GeneratedRegex("^[a-z0-9][a-z0-9-]{1,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex NamePattern();

    /// <summary>Step ids appear in templates (<c>${steps.train.outputs.x}</c>), so no dots.</summary>
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9_-]{0,62}$", RegexOptions.CultureInvariant)]
    public static partial Regex StepIdPattern();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,63}$", RegexOptions.CultureInvariant)]
    public static partial Regex ParameterNamePattern();

    public static string OverlapName(OverlapPolicy overlap) => overlap switch
    {
        OverlapPolicy.Skip => "skip",
        OverlapPolicy.Allow => "allow",
        OverlapPolicy.CancelPrevious => "cancelPrevious",
        _ => throw new ArgumentOutOfRangeException(nameof(overlap), overlap, null),
    };

    public static IReadOnlyList<string> OverlapNames { get; } = Enum.GetValues<OverlapPolicy>().Select(OverlapName).ToArray();
}
