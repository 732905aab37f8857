namespace MlPlatform.Workflows.Domain;

/// <summary>
/// A named workflow in a project. Its definitions live in <see cref="WorkflowVersion"/>s; this row
/// only points at the latest. Deleting is soft: the versions stay, so runs pinned to them keep
/// working, and the name becomes free for a new workflow.
/// </summary>
public sealed class Workflow
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public required string Name { get; set; }

    /// <summary>The latest version's description, for lists.</summary>
    public string? Description { get; set; }

    /// <summary>
    /// The latest version number; also the concurrency token, so two writers adding the next
    /// version at once cannot both win (the loser retries with the new number).
    /// </summary>
    public int LatestVersion { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset? DeletedAt { get; set; }

    public Guid? DeletedBy { get; set; }
}

/// <summary>One immutable version of a workflow's definition (normalized JSON) with its content hash.</summary>
public sealed class WorkflowVersion
{
    public Guid Id { get; set; }

    public Guid WorkflowId { get; set; }

    /// <summary>1, 2, 3, ... per workflow.</summary>
    public int Version { get; set; }

    public required string Definition { get; set; }

    /// <summary>SHA-256 (hex) of the canonical definition: equal for equal definitions, whatever the submitted format.</summary>
    public required string ContentHash { get; set; }

    /// <summary>"json" or "yaml": how this version was submitted.</summary>
    public required string SourceFormat { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }
}
