namespace MlPlatform.Predictions.Domain;

/// <summary>
/// A deployment: a name unique across the server, answering on the data plane with one or more
/// weighted variants and optionally a shadow. <see cref="Revision"/> grows with every change, so
/// hosts can tell that their routing table is stale.
/// </summary>
public sealed class ServingEndpoint
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public string ProjectName { get; set; } = string.Empty;

    public string Name { get; set; } = string.Empty;

    public string? Description { get; set; }

    /// <summary>Production endpoints serve approved versions only (when <c>Predictions:Production:RequireApproved</c>).</summary>
    public bool Production { get; set; }

    public bool CacheEnabled { get; set; }

    public int CacheMaxEntries { get; set; }

    public bool BatchingEnabled { get; set; }

    public int MaxBatchSize { get; set; }

    public int MaxBatchDelayMicroseconds { get; set; }

    /// <summary>Requests allowed to wait for a model at once; 0 = the server default. Beyond it: 429 at once.</summary>
    public int MaxQueue { get; set; }

    /// <summary>Requests computing at once; 0 = unbounded.</summary>
    public int MaxConcurrency { get; set; }

    public long Revision { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public Guid? UpdatedBy { get; set; }

    public List<EndpointVariant> Variants { get; set; } = [];
}

/// <summary>
/// One model version behind an endpoint. <see cref="Alias"/> set: the variant follows the alias
/// and <see cref="AliasRevision"/> is the registry revision it last applied (older events are dropped).
/// </summary>
public sealed class EndpointVariant
{
    public Guid Id { get; set; }

    public Guid EndpointId { get; set; }

    public string Name { get; set; } = string.Empty;

    public Guid ModelId { get; set; }

    public string Model { get; set; } = string.Empty;

    public string? Alias { get; set; }

    public long AliasRevision { get; set; }

    public int Version { get; set; }

    public string VersionStatus { get; set; } = string.Empty;

    public string ArtifactKey { get; set; } = string.Empty;

    public string Sha256 { get; set; } = string.Empty;

    public long SizeBytes { get; set; }

    /// <summary>Percent of the traffic (the non-shadow weights add up to 100); 0 for the shadow.</summary>
    public int Weight { get; set; }

    public bool Shadow { get; set; }
}

/// <summary>A batch prediction job: reads an object of rows, writes an object of predictions.</summary>
public sealed class BatchJob
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public Guid EndpointId { get; set; }

    public string Endpoint { get; set; } = string.Empty;

    public string InputKey { get; set; } = string.Empty;

    public string OutputKey { get; set; } = string.Empty;

    /// <summary>queued, running, succeeded, failed, cancelled (<see cref="Batch.BatchStates"/>).</summary>
    public string State { get; set; } = "queued";

    public long Rows { get; set; }

    public long BytesRead { get; set; }

    public long InputBytes { get; set; }

    public string? Error { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public Guid? CreatedBy { get; set; }

    /// <summary>How many times the job was started: 1 on its own host, one more for each resume after its host was lost.</summary>
    public int Attempts { get; set; }

    /// <summary>The host running the job; with <see cref="LeaseExpiresAt"/>, renewed while it runs.</summary>
    public string? LeaseOwner { get; set; }

    /// <summary>Past this time a running job's host is taken as lost, and a sweep starts the job again.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; set; }
}
