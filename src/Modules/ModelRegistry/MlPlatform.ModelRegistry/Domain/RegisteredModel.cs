namespace MlPlatform.ModelRegistry.Domain;

/// <summary>A named model in a project; its versions carry the artifacts.</summary>
public sealed class RegisteredModel
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public required string Name { get; set; }

    public string? Description { get; set; }

    /// <summary>Aliases that only approvers may move, and only to approved versions; '\n'-separated (alias names hold no whitespace).</summary>
    public string ProtectedAliases { get; set; } = string.Empty;

    /// <summary>The highest version number handed out; a concurrency token, so two uploads never get the same number.</summary>
    public int LatestVersion { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public IReadOnlyList<string> ProtectedAliasList =>
        ProtectedAliases.Split('\n', StringSplitOptions.RemoveEmptyEntries);

    public bool IsProtected(string alias) => ProtectedAliasList.Contains(alias, StringComparer.Ordinal);
}

/// <summary>One tag of a model; a row per tag so the list can filter on it in the database.</summary>
public sealed class ModelTag
{
    public Guid ModelId { get; set; }

    public required string Tag { get; set; }
}

public static class VersionStatus
{
    public const string Pending = "pending";
    public const string Approved = "approved";
    public const string Rejected = "rejected";
}

/// <summary>An uploaded ONNX artifact of a model, with what was read from it and the approval decision.</summary>
public sealed class ModelVersion
{
    public Guid Id { get; set; }

    public Guid ModelId { get; set; }

    public int Version { get; set; }

    public string? Description { get; set; }

    /// <summary>pending, approved or rejected (<see cref="VersionStatus"/>); a concurrency token, so two decisions cannot both win.</summary>
    public required string Status { get; set; }

    public required string ArtifactKey { get; set; }

    public required string ArtifactUri { get; set; }

    public required string Sha256 { get; set; }

    public long SizeBytes { get; set; }

    /// <summary>Inputs and outputs as JSON (names, element types, shapes).</summary>
    public required string Signature { get; set; }

    /// <summary>The ONNX model metadata as JSON (producer, graph name, custom map).</summary>
    public required string Metadata { get; set; }

    /// <summary>JSON object of numbers sent with the upload, merged with those recorded later (newer values win).</summary>
    public required string Metrics { get; set; }

    /// <summary>JSON object: for each metric, who recorded its current value (<c>upload</c>, a workflow step, ...).</summary>
    public string MetricSources { get; set; } = "{}";

    /// <summary>JSON object of strings sent with the upload.</summary>
    public required string Params { get; set; }

    /// <summary>Where the version came from as JSON (run, step, datasets, parent version, code version).</summary>
    public required string Lineage { get; set; }

    /// <summary>The workflow run that produced the version, also a column so lineage can be followed from a run.</summary>
    public string? WorkflowRunId { get; set; }

    /// <summary>The version this one was derived from (fine-tuned, retrained), in the same model.</summary>
    public int? ParentVersion { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }

    public DateTimeOffset? DecidedAt { get; set; }

    public Guid? DecidedBy { get; set; }

    public string? DecisionComment { get; set; }

    /// <summary>Set when the version was archived: it takes no aliases and is left out of default listings.</summary>
    public DateTimeOffset? ArchivedAt { get; set; }

    public Guid? ArchivedBy { get; set; }

    /// <summary>
    /// Grows by one at every write that depends on the version's state: a decision, archiving,
    /// recorded metrics, and every alias move onto it. A concurrency token, so an archive and an
    /// alias move (or a decision and a move) that read the same state cannot both commit: the
    /// second re-reads and is judged on the first one's result.
    /// </summary>
    public long RowVersion { get; set; }
}

/// <summary>
/// A dataset version (<c>name@version</c>) a model version was trained or evaluated on: a row per
/// reference, so "which models came from this dataset" is an indexed look-up, not a JSON scan.
/// </summary>
public sealed class VersionDataset
{
    public Guid VersionId { get; set; }

    public required string Dataset { get; set; }
}

/// <summary>A movable name for one version of a model (champion, challenger, ...).</summary>
public sealed class ModelAlias
{
    public Guid ModelId { get; set; }

    public required string Alias { get; set; }

    public int Version { get; set; }

    /// <summary>Grows by one per move; the concurrency token that makes two concurrent moves serialise.</summary>
    public long Revision { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public Guid? UpdatedBy { get; set; }
}

/// <summary>Every move of an alias, including its creation and deletion (null versions).</summary>
public sealed class AliasHistoryEntry
{
    public Guid Id { get; set; }

    public Guid ModelId { get; set; }

    public required string Alias { get; set; }

    /// <summary>Unique per model and alias: a second writer of the same revision fails, so no move is lost.</summary>
    public long Revision { get; set; }

    public int? FromVersion { get; set; }

    public int? ToVersion { get; set; }

    public DateTimeOffset MovedAt { get; set; }

    public Guid? MovedBy { get; set; }
}
