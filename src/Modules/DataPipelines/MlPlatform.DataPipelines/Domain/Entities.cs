namespace MlPlatform.DataPipelines.Domain;

/// <summary>A named dataset in a project; its content lives in <see cref="DatasetVersion"/>s.</summary>
public sealed class Dataset
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    /// <summary>Kept for events and lineage namespaces, which name the project.</summary>
    public string ProjectName { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;

    public string? Description { get; set; }

    /// <summary>Declared columns (JSON array of {name, type}) that every version must have; null = inferred.</summary>
    public string? DeclaredSchema { get; set; }

    /// <summary>Concurrency token: two new versions cannot take the same number.</summary>
    public int LatestVersion { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }
}

/// <summary>One immutable content of a dataset, identified by the SHA-256 of its bytes.</summary>
public sealed class DatasetVersion
{
    public Guid Id { get; set; }

    public Guid DatasetId { get; set; }

    public Guid ProjectId { get; set; }

    public int Version { get; set; }

    public string Sha256 { get; set; } = string.Empty;

    /// <summary>csv, parquet or jsonl.</summary>
    public string Format { get; set; } = string.Empty;

    public string ArtifactKey { get; set; } = string.Empty;

    public string ArtifactUri { get; set; } = string.Empty;

    public long SizeBytes { get; set; }

    public long Rows { get; set; }

    /// <summary>JSON array of {name, type}.</summary>
    public string Schema { get; set; } = "[]";

    /// <summary>JSON profile (row count and per-column statistics).</summary>
    public string Profile { get; set; } = "{}";

    /// <summary>The workflow run (or the platform's own run for an API transform) that produced it.</summary>
    public Guid? ProducedByRun { get; set; }

    public string? ProducedByStep { get; set; }

    /// <summary>How it was made: upload, ingest, transform or split, with the declared spec (JSON).</summary>
    public string Origin { get; set; } = "{}";

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }
}

/// <summary>
/// An edge of the lineage graph: a run read (input) or wrote (output) a dataset version. Model
/// versions and endpoints are joined in at query time through the registry's contracts.
/// </summary>
public sealed class LineageEdge
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public Guid RunId { get; set; }

    public string? Step { get; set; }

    public Guid DatasetVersionId { get; set; }

    /// <summary>input or output.</summary>
    public string Direction { get; set; } = string.Empty;

    public DateTimeOffset CreatedAt { get; set; }
}

public static class EdgeDirection
{
    public const string Input = "input";
    public const string Output = "output";
}

/// <summary>A versioned, declarative quality suite; a new definition under the same name is the next version.</summary>
public sealed class QualitySuite
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public string Name { get; set; } = string.Empty;

    public int Version { get; set; }

    public string? Description { get; set; }

    /// <summary>JSON array of rules, as normalised at creation.</summary>
    public string Rules { get; set; } = "[]";

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }
}

/// <summary>The outcome of one suite on one dataset version.</summary>
public sealed class QualityReport
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public Guid SuiteId { get; set; }

    public Guid DatasetVersionId { get; set; }

    /// <summary>False when a blocking rule failed.</summary>
    public bool Passed { get; set; }

    public int FailedRules { get; set; }

    public int Warnings { get; set; }

    public long Rows { get; set; }

    /// <summary>JSON array of per-rule results.</summary>
    public string Results { get; set; } = "[]";

    public Guid? RunId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>An OpenLineage RunEvent, kept and delivered (at least once) to the configured endpoint.</summary>
public sealed class LineageEvent
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    /// <summary>The OpenLineage run id (one per data operation).</summary>
    public Guid OlRunId { get; set; }

    /// <summary>The workflow run the operation belonged to, if any.</summary>
    public Guid? WorkflowRunId { get; set; }

    public string EventType { get; set; } = string.Empty;

    public string JobName { get; set; } = string.Empty;

    public DateTimeOffset EventTime { get; set; }

    public string Payload { get; set; } = "{}";

    public DateTimeOffset? DeliveredAt { get; set; }

    public int Attempts { get; set; }

    public DateTimeOffset NextAttemptAt { get; set; }

    public string? LastError { get; set; }
}

/// <summary>
/// A training job a <c>model.train</c> step started outside the platform (SageMaker), written before
/// the job is created so a run that is cancelled or fails while the step is suspended can stop it.
/// </summary>
public sealed class RemoteTrainingJob
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public Guid RunId { get; set; }

    public string StepId { get; set; } = string.Empty;

    public int Attempt { get; set; }

    /// <summary>The backend that owns the job (sagemaker).</summary>
    public string Backend { get; set; } = string.Empty;

    public string JobName { get; set; } = string.Empty;

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>When the job was seen over (completed, failed, stopped) or a stop was asked for; null while it may run.</summary>
    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>completed, failed, stopped, stop-requested or gone.</summary>
    public string? Outcome { get; set; }
}
