namespace MlPlatform.Workflows.Runs;

/// <summary>The states, as stored (strings, so the database and the API read the same).</summary>
public static class RunStates
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Queued, Running, Succeeded, Failed, Cancelled];

    public static bool IsTerminal(string state) => state is Succeeded or Failed or Cancelled;
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

    /// <summary>
    /// Bumped by every transaction that changes the run's steps. The bump is the transaction's
    /// first statement, so it takes the run's row lock (PostgreSQL) or the write lock (SQLite) and
    /// two finishing steps of one run never decide their dependents on stale states.
    /// </summary>
    public long Revision { get; set; }
}

/// <summary>One step of one run.</summary>
public sealed class RunStep
{
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
}

/// <summary>One try at running a step; retries and re-runs add attempts.</summary>
public sealed class StepAttempt
{
    public Guid Id { get; set; }

    public Guid RunId { get; set; }

    public Guid RunStepId { get; set; }

    public int Number { get; set; }

    public required string State { get; set; }

    /// <summary>When Quartz is to start it (now, or after a retry's backoff).</summary>
    public DateTimeOffset ScheduledFor { get; set; }

    public DateTimeOffset? StartedAt { get; set; }

    public DateTimeOffset? FinishedAt { get; set; }

    public string? Error { get; set; }

    /// <summary>What a suspended step asked to be handed back when it resumes (JSON).</summary>
    public string? SuspendState { get; set; }
}
