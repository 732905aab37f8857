using System.Text.Json;

namespace MlPlatform.Workflows.WorkflowDefinitions;

/// <summary>A workflow at one version, with that version's normalized definition.</summary>
public sealed record WorkflowDto(
    Guid Id,
    string Project,
    string Name,
    string? Description,
    int Version,
    int LatestVersion,
    string ContentHash,
    string SourceFormat,
    DateTimeOffset CreatedAt,
    DateTimeOffset VersionCreatedAt,
    Guid? VersionCreatedBy,
    JsonElement Definition);

public sealed record WorkflowSummaryDto(Guid Id, string Name, string? Description, int LatestVersion, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

public sealed record WorkflowVersionSummaryDto(int Version, string ContentHash, string SourceFormat, DateTimeOffset CreatedAt, Guid? CreatedBy);

/// <summary>The answer to a dry run of a valid definition.</summary>
public sealed record ValidationResultDto(
    bool Valid,
    string Name,
    int Steps,
    string ContentHash,
    int? LatestVersion,
    bool Unchanged,
    IReadOnlyList<DateTimeOffset> NextScheduledRuns,
    JsonElement Definition);

/// <summary>One error in a problem's <c>errors</c> list; line and column only for syntax errors.</summary>
public sealed record ProblemError(string Path, string Message)
{
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public long? Line { get; init; }

    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public long? Column { get; init; }
}
