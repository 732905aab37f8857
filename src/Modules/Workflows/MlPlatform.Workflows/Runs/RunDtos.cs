using System.Text.Json.Nodes;

namespace MlPlatform.Workflows.Runs;

public sealed record StartRunBody(JsonObject? Parameters);

public sealed record RunStartedDto(Guid Id, string State, string Workflow, int Version);

public sealed record AttemptDto(int Number, string State, DateTimeOffset ScheduledFor, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Error);

public sealed record RunStepDto(
    string Id,
    string Type,
    string State,
    JsonObject? Outputs,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string? Error,
    IReadOnlyList<AttemptDto> Attempts)
{
    /// <summary>The steps this one waits for (the DAG's edges point from them to it).</summary>
    public IReadOnlyList<string> DependsOn { get; init; } = [];

    /// <summary>From its first start to its end, or to now while it runs.</summary>
    public double? DurationMs { get; init; }

    /// <summary>Set when a person marked the failed step succeeded or skipped.</summary>
    public StepOverrideDto? Override { get; init; }

    /// <summary>The latest approval request of an approval step.</summary>
    public ApprovalDto? Approval { get; init; }
}

public sealed record StepOverrideDto(string By, DateTimeOffset At, string? Comment);

public sealed record RunEdgeDto(string From, string To);

public sealed record RunDto(
    Guid Id,
    string Project,
    string Workflow,
    int Version,
    string State,
    JsonObject Parameters,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string? Error,
    IReadOnlyList<RunStepDto> Steps)
{
    /// <summary>The workflow's id: stays with the run when the workflow is deleted and its name reused.</summary>
    public Guid WorkflowId { get; init; }

    /// <summary>The DAG's edges (dependency → dependent), for a graph view; the nodes are <see cref="Steps"/>.</summary>
    public IReadOnlyList<RunEdgeDto> Edges { get; init; } = [];

    public DateTimeOffset? DeadlineAt { get; init; }

    /// <summary>api, schedule, backfill or event.</summary>
    public string Trigger { get; init; } = RunTriggers.Api;

    /// <summary>The logical time (<c>${run.scheduledAt}</c>) of a scheduled or backfilled run.</summary>
    public DateTimeOffset? ScheduledAt { get; init; }

    public double? DurationMs { get; init; }
}

public sealed record RunSummaryDto(
    Guid Id,
    string Workflow,
    int Version,
    string State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    string Trigger,
    DateTimeOffset? ScheduledAt)
{
    /// <summary>The workflow's id: stays with the run when the workflow is deleted and its name reused.</summary>
    public Guid WorkflowId { get; init; }
}
