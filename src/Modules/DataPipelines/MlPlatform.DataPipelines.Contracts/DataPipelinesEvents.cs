using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.DataPipelines.Contracts;

/// <summary>
/// A new version of a dataset was stored (uploaded, ingested or derived by a transform). Uploading
/// bytes that already form a version publishes nothing. Workflow trigger rules can start runs on it.
/// </summary>
public sealed record DatasetVersionCreated(
    Guid EventId,
    DateTimeOffset OccurredAt,
    Guid ProjectId,
    string Project,
    Guid DatasetId,
    string Dataset,
    int Version,
    string Sha256,
    string ArtifactKey,
    long Rows,
    Guid? ProducedByRun) : IIntegrationEvent;
