using System.Buffers.Text;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;

namespace MlPlatform.Workflows.Triggers;

/// <summary>
/// <c>Workflows:Triggers</c>: how far a cascade of event-triggered runs may go
/// (<see cref="MaxCascadeDepth"/>) and how many runs the event triggers may start per workflow per
/// minute (<see cref="MaxRunsPerMinute"/>), the backstop for events that do not say which run caused them.
/// </summary>
public sealed record TriggerOptions(int MaxCascadeDepth, int MaxRunsPerMinute)
{
    public const string Section = "Workflows:Triggers";

    public static readonly TriggerOptions Default = new(MaxCascadeDepth: 8, MaxRunsPerMinute: 60);

    public static TriggerOptions Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var options = new TriggerOptions(
            section.GetValue(nameof(MaxCascadeDepth), Default.MaxCascadeDepth),
            section.GetValue(nameof(MaxRunsPerMinute), Default.MaxRunsPerMinute));
        if (options.MaxCascadeDepth is < 1 or > 100)
        {
            throw new InvalidConfigurationException($"{Section}:{nameof(MaxCascadeDepth)}", "Use 1 to 100 event-triggered runs in a row.");
        }

        if (options.MaxRunsPerMinute is < 1 or > 100_000)
        {
            throw new InvalidConfigurationException($"{Section}:{nameof(MaxRunsPerMinute)}", "Use 1 to 100000 runs per workflow per minute.");
        }

        return options;
    }
}

/// <summary>Why a matching trigger rule started no run.</summary>
public enum TriggerRefusal
{
    None,

    /// <summary>The event was caused, directly or through other triggered runs, by a run of the rule's own workflow.</summary>
    Loop,

    /// <summary>The run would be more than <see cref="TriggerOptions.MaxCascadeDepth"/> event-triggered runs after the first run of its cascade.</summary>
    Depth,

    /// <summary>The workflow's event triggers started <see cref="TriggerOptions.MaxRunsPerMinute"/> runs in the last minute.</summary>
    Rate,
}

/// <summary>
/// Keeps event triggers from looping: a workflow triggered by "a new version of dataset X" that
/// itself ingests a version of X would otherwise start itself forever.
/// <para>
/// <b>Causation.</b> An event names the run that caused it in one of <see cref="CauseFields"/>
/// (<c>producedByRun</c> of DatasetVersionCreated, <c>runId</c> of the engine's own run events).
/// A run started by a trigger keeps its cause in its trigger key, so the chain of runs that led
/// to an event can be walked back: a rule does not fire when a run of its own workflow is in that
/// chain (a loop, direct or through other workflows), nor when its run would be more than
/// <see cref="TriggerOptions.MaxCascadeDepth"/> triggered runs after the first run of the chain.
/// </para>
/// <para>
/// <b>Backstop.</b> An event that names no run (a model registered by a step, say) cannot be traced,
/// so the runs started by event triggers are also limited per workflow per minute.
/// </para>
/// </summary>
public sealed class TriggerGuard(WorkflowsDbContext db, TriggerOptions options, TimeProvider clock)
{
    /// <summary>Top-level event fields (camelCase, as published) that name the run that caused the event, in this order.</summary>
    public static readonly IReadOnlyList<string> CauseFields = ["causedByRun", "producedByRun", "runId"];

    private const string KeyPrefix = "event:";

    private readonly Dictionary<Guid, int> _rateChecked = [];
    private Chain? _chain;

    /// <summary>
    /// The trigger key of a run started by <paramref name="eventId"/> through <paramref name="ruleId"/>:
    /// unique per workflow (a redelivered event finds its run), and carrying the cause (22 base64url
    /// characters) so later events can be traced back through this run. At most 94 characters.
    /// </summary>
    public static string KeyFor(Guid eventId, Guid ruleId, Guid? cause) =>
        cause is { } run ? $"{LegacyKeyFor(eventId, ruleId)}:{Base64Url.EncodeToString(run.ToByteArray())}" : LegacyKeyFor(eventId, ruleId);

    /// <summary>The key as written before causes were recorded (and still for events without one).</summary>
    public static string LegacyKeyFor(Guid eventId, Guid ruleId) => $"{KeyPrefix}{eventId:N}:{ruleId:N}";

    /// <summary>The run that caused the event that started a run, read back from its trigger key.</summary>
    public static Guid? CauseOf(string? triggerKey)
    {
        if (triggerKey is null || !triggerKey.StartsWith(KeyPrefix, StringComparison.Ordinal))
        {
            return null;
        }

        var parts = triggerKey.Split(':');
        if (parts.Length != 4 || parts[3].Length != 22)
        {
            return null;
        }

        Span<byte> bytes = stackalloc byte[16];
        return Base64Url.TryDecodeFromChars(parts[3], bytes, out var written) && written == 16 ? new Guid(bytes) : null;
    }

    /// <summary>The run the event names as its cause, if it names one of this project's runs.</summary>
    public static Guid? CauseIn(JsonObject evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        foreach (var field in CauseFields)
        {
            if (evt[field] is JsonValue value && (value.TryGetValue<Guid>(out var run) || (value.TryGetValue<string>(out var text) && Guid.TryParse(text, out run))) && run != Guid.Empty)
            {
                return run;
            }
        }

        return null;
    }

    /// <summary>Whether a rule of <paramref name="workflowId"/> may start a run for an event caused by <paramref name="cause"/>.</summary>
    public async Task<TriggerRefusal> CheckAsync(Guid projectId, Guid workflowId, Guid? cause, CancellationToken cancellationToken)
    {
        if (cause is { } run)
        {
            _chain ??= await WalkAsync(projectId, run, cancellationToken);
            if (_chain.Workflows.Contains(workflowId))
            {
                return TriggerRefusal.Loop;
            }

            // The cause is at place Length - 1 of its cascade (the first run, not started by a traced event, at 0).
            if (_chain.Length > options.MaxCascadeDepth)
            {
                return TriggerRefusal.Depth;
            }
        }

        // Runs created in the last minute, from the (project, created_at) index: cheap whatever the history.
        if (!_rateChecked.TryGetValue(workflowId, out var recent))
        {
            var since = clock.GetUtcNow().AddMinutes(-1);
            recent = await db.Runs.AsNoTracking()
                .CountAsync(r => r.ProjectId == projectId && r.CreatedAt >= since && r.WorkflowId == workflowId && r.Trigger == RunTriggers.Event, cancellationToken);
        }

        if (recent >= options.MaxRunsPerMinute)
        {
            return TriggerRefusal.Rate;
        }

        _rateChecked[workflowId] = recent + 1;
        return TriggerRefusal.None;
    }

    /// <summary>
    /// The runs from the cause back to the first one not started by a traced event, at most one more
    /// than the cascade may hold: their workflows and how many there are.
    /// </summary>
    private async Task<Chain> WalkAsync(Guid projectId, Guid cause, CancellationToken cancellationToken)
    {
        var workflows = new HashSet<Guid>();
        var length = 0;
        Guid? next = cause;
        while (next is { } id && length < options.MaxCascadeDepth + 1)
        {
            var run = await db.Runs.AsNoTracking()
                .Where(r => r.Id == id && r.ProjectId == projectId)
                .Select(r => new { r.WorkflowId, r.TriggerKey })
                .SingleOrDefaultAsync(cancellationToken);
            if (run is null)
            {
                break;
            }

            length++;
            workflows.Add(run.WorkflowId);
            next = CauseOf(run.TriggerKey);
        }

        return new Chain(workflows, length);
    }

    private sealed record Chain(HashSet<Guid> Workflows, int Length);
}
