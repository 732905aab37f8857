using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>
/// A new version of a registered model was uploaded; it starts pending approval.
/// <paramref name="CausedByRun"/>: the workflow run whose step registered it, if one did (so a
/// trigger rule on this event can tell when a run would start itself again).
/// </summary>
public sealed record ModelVersionRegistered(
    Guid EventId,
    DateTimeOffset OccurredAt,
    Guid ProjectId,
    string Project,
    Guid ModelId,
    string Model,
    int Version,
    string ArtifactUri,
    string Sha256,
    long SizeBytes,
    Guid? RegisteredBy,
    Guid? CausedByRun = null) : IIntegrationEvent;

/// <summary>An approver approved a pending version; it may now take protected aliases.</summary>
public sealed record ModelVersionApproved(
    Guid EventId,
    DateTimeOffset OccurredAt,
    Guid ProjectId,
    string Project,
    Guid ModelId,
    string Model,
    int Version,
    Guid? ApprovedBy,
    string? Comment) : IIntegrationEvent;

/// <summary>An approver rejected a pending version; no alias may point to it afterwards.</summary>
public sealed record ModelVersionRejected(
    Guid EventId,
    DateTimeOffset OccurredAt,
    Guid ProjectId,
    string Project,
    Guid ModelId,
    string Model,
    int Version,
    Guid? RejectedBy,
    string? Comment) : IIntegrationEvent;

/// <summary>
/// An alias now points to another version (<see cref="ToVersion"/>), or was deleted (null).
/// <see cref="Revision"/> grows by one per move of the alias, so a follower can drop stale deliveries.
/// </summary>
public sealed record AliasMoved(
    Guid EventId,
    DateTimeOffset OccurredAt,
    Guid ProjectId,
    string Project,
    Guid ModelId,
    string Model,
    string Alias,
    int? FromVersion,
    int? ToVersion,
    long Revision,
    Guid? MovedBy) : IIntegrationEvent;
