using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.Workflows.Contracts.Runs;

/// <summary>A run was created and its first steps were scheduled.</summary>
public sealed record RunStarted(Guid EventId, DateTimeOffset OccurredAt, Guid ProjectId, Guid RunId, string Workflow, int Version) : IIntegrationEvent;

/// <summary>Every step of the run succeeded or was skipped.</summary>
public sealed record RunSucceeded(Guid EventId, DateTimeOffset OccurredAt, Guid ProjectId, Guid RunId, string Workflow, int Version) : IIntegrationEvent;

/// <summary>The run finished with at least one failed step.</summary>
public sealed record RunFailed(Guid EventId, DateTimeOffset OccurredAt, Guid ProjectId, Guid RunId, string Workflow, int Version, string? Error) : IIntegrationEvent;

/// <summary>
/// A user cancelled the run. Its queued work is cancelled and running attempts are stopped; work a
/// step started outside the platform (a remote training job) is for its module to stop on this event.
/// </summary>
public sealed record RunCancelled(Guid EventId, DateTimeOffset OccurredAt, Guid ProjectId, Guid RunId, string Workflow, int Version) : IIntegrationEvent;

/// <summary>A step failed for good (no retries left, or the failure was not retryable).</summary>
public sealed record StepFailed(Guid EventId, DateTimeOffset OccurredAt, Guid ProjectId, Guid RunId, string StepId, int Attempt, string Error) : IIntegrationEvent;

/// <summary>
/// An approval step started waiting for a decision. <paramref name="Roles"/> (project roles, or
/// <c>Approver</c> for the approver right) and <paramref name="Approvers"/> (usernames) say who may
/// decide, through <c>POST /api/v1/projects/{project}/runs/{runId}/steps/{stepId}/approve</c> or <c>/reject</c>.
/// </summary>
public sealed record ApprovalRequested(
    Guid EventId,
    DateTimeOffset OccurredAt,
    Guid ProjectId,
    Guid RunId,
    string Workflow,
    string StepId,
    Guid ApprovalId,
    string Message,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Approvers) : IIntegrationEvent;
