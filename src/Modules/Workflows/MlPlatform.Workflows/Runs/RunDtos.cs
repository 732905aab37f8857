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
    IReadOnlyList<AttemptDto> Attempts);

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
    IReadOnlyList<RunStepDto> Steps);

public sealed record RunSummaryDto(
    Guid Id,
    string Workflow,
    int Version,
    string State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt);
