namespace MlPlatform.Workflows.Runs;

/// <summary>The states, as stored (strings, so the database and the API read the same).</summary>
public static class RunStates
{
    /// <summary>Held back by the workflow's maxActiveRuns; admitted (queued) in creation order as active runs finish.</summary>
    public const string Waiting = "waiting";

    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Waiting, Queued, Running, Succeeded, Failed, Cancelled];

    public static bool IsTerminal(string state) => state is Succeeded or Failed or Cancelled;
}

public static class RunTriggers
{
    public const string Api = "api";
    public const string Schedule = "schedule";
    public const string Backfill = "backfill";
    public const string Event = "event";
}

public static class StepStates
{
    public const string Pending = "pending";
    public const string Ready = "ready";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Skipped = "skipped";
    public const string Cancelled = "cancelled";

    public static bool IsTerminal(string state) => state is Succeeded or Failed or Skipped or Cancelled;
}

public static class AttemptStates
{
    /// <summary>Created and handed to Quartz (possibly for a later time: a retry's backoff or a resume).</summary>
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
}

/// <summary>One run of a workflow, pinned to the version it started with.</summary>
public sealed class WorkflowRun
{
    /// <summary>A detached copy (its fields are values or immutable).</summary>
    public WorkflowRun Copy() => (WorkflowRun)MemberwiseClone();

    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public Guid WorkflowId { get; set; }

    public required string WorkflowName { get; set; }

    public Guid WorkflowVersionId { get; set; }

    public int Version { get; set; }

    public required string State { get; set; }

    /// <summary>The run's parameters (JSON object) with defaults applied.</summary>
    public required string Parameters { get; set; }

    public string? Error { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public Guid? CreatedBy { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>What started it: <see cref="RunTriggers"/>.</summary>
    public string Trigger { get; set; } = RunTriggers.Api;

    /// <summary>What started it exactly, unique per workflow (an event and a rule), so a redelivered event starts no second run.</summary>
    public string? TriggerKey { get; set; }

    /// <summary>The logical time of a scheduled or backfilled run (its cron fire time).</summary>
    public DateTimeOffset? ScheduledAt { get; set; }

    /// <summary>When the run fails for running too long (the definition's <c>timeout</c>); null for none.</summary>
    public DateTimeOffset? DeadlineAt { get; set; }

    /// <summary>
    /// Bumped by the transactions that change the run's steps without holding its row lock
    /// (PostgreSQL's finishes lock it with <c>SELECT … FOR UPDATE</c> instead). The bump is the
    /// transaction's first statement, so it takes the run's row lock (PostgreSQL) or the write lock
    /// (SQLite) and two finishing steps of one run never decide their dependents on stale states.
    /// </summary>
    public long Revision { get; set; }
}

/// <summary>One step of one run.</summary>
public sealed class RunStep
{
    /// <summary>A detached copy (its fields are values or immutable).</summary>
    public RunStep Copy() => (RunStep)MemberwiseClone();

    public Guid Id { get; set; }

    public Guid RunId { get; set; }

    /// <summary>The step's id in the definition.</summary>
    public required string StepId { get; set; }

    /// <summary>Its position in the definition, for a stable order in answers.</summary>
    public int Ordinal { get; set; }

    public required string Type { get; set; }

    public required string State { get; set; }

    /// <summary>The outputs (JSON object) of the attempt that succeeded.</summary>
    public string? Outputs { get; set; }

    public string? Error { get; set; }

    public int Attempts { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    /// <summary>Who marked a failed step succeeded or skipped by hand (audited), when, and why.</summary>
    public string? OverriddenBy { get; set; }

    public DateTimeOffset? OverriddenAt { get; set; }

    public string? OverrideComment { get; set; }
}

/// <summary>One try at running a step; retries and re-runs add attempts.</summary>
public sealed class StepAttempt
{
    public Guid Id { get; set; }

    public Guid RunId { get; set; }

    public Guid RunStepId { get; set; }

    public int Number { get; set; }

    public required string State { get; set; }

    /// <summary>When it is to start: now (dispatched in-process), or later (a Quartz trigger: a retry's backoff, a wait).</summary>
    public DateTimeOffset ScheduledFor { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public string? Error { get; set; }

    /// <summary>What a suspended step asked to be handed back when it resumes (JSON).</summary>
    public string? SuspendState { get; set; }

    /// <summary>The concurrency pool the step runs in (copied from the definition), or null.</summary>
    public string? Pool { get; set; }

    /// <summary>The signal (JSON object) delivered to a step waiting for one, e.g. an approval decision.</summary>
    public string? Signal { get; set; }

    /// <summary>
    /// The host process (and claim) running the attempt, while it runs on a thread; null while it is
    /// queued or waits for a signal. The owner renews <see cref="LeaseExpiresAt"/>; once it has passed,
    /// any host records the attempt as lost with its host and runs the step again.
    /// </summary>
    public string? LeaseOwner { get; set; }

    public DateTimeOffset? LeaseExpiresAt { get; set; }
}

public static class ApprovalStates
{
    public const string Waiting = "waiting";
    public const string Approved = "approved";
    public const string Rejected = "rejected";

    /// <summary>The run ended (cancelled, timed out) before anyone decided.</summary>
    public const string Cancelled = "cancelled";
}

/// <summary>
/// An approval step waiting for a decision, and the decision: who, when, with what comment. One
/// row per waiting attempt; the decision is the signal that resumes the attempt.
/// </summary>
public sealed class ApprovalRequest
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public Guid RunId { get; set; }

    public Guid RunStepId { get; set; }

    public Guid AttemptId { get; set; }

    public required string StepId { get; set; }

    public required string Message { get; set; }

    /// <summary>Project roles that may decide (JSON array of Viewer, Maintainer, Owner, Approver).</summary>
    public required string Roles { get; set; }

    /// <summary>Usernames that may decide whatever their role (JSON array).</summary>
    public required string Approvers { get; set; }

    public required string State { get; set; }

    public DateTimeOffset RequestedAt { get; set; }

    public DateTimeOffset? DecidedAt { get; set; }

    public Guid? DecidedBy { get; set; }

    public string? DecidedByName { get; set; }

    public string? Comment { get; set; }
}

/// <summary>One line of a step attempt's log; <see cref="Sequence"/> counts from 1 within the attempt.</summary>
public sealed class StepLogLine
{
    public Guid AttemptId { get; set; }

    public int Sequence { get; set; }

    public Guid RunId { get; set; }

    public DateTimeOffset At { get; set; }

    public required string Level { get; set; }

    public required string Message { get; set; }
}
