using System.Collections.Concurrent;
using Cronos;
using Microsoft.EntityFrameworkCore;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Schedules;

/// <summary>
/// The schedule of a workflow's latest version, and its firing state: the next fire time (claimed
/// by the host that fires it, so clustered hosts fire each time once), whether it is paused, and
/// how many fire times the overlap policy skipped.
/// </summary>
public sealed class WorkflowSchedule
{
    public Guid WorkflowId { get; set; }

    public Guid ProjectId { get; set; }

    public required string Cron { get; set; }

    public required string TimeZone { get; set; }

    public required string Overlap { get; set; }

    public bool CatchUp { get; set; }

    public bool Paused { get; set; }

    public DateTimeOffset? NextFireAt { get; set; }

    public DateTimeOffset? LastFireAt { get; set; }

    public int SkippedFires { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }
}

/// <summary>Cron arithmetic in the schedule's time zone (Cronos, parsed once per expression).</summary>
public static class ScheduleMath
{
    private static readonly ConcurrentDictionary<string, CronExpression> Parsed = new(StringComparer.Ordinal);

    public static CronExpression Cron(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Parsed.TryGetValue(text, out var cached))
        {
            return cached;
        }

        if (!DefinitionValidator.TryParseCron(text, out var expression, out var error))
        {
            throw new InvalidOperationException(error);
        }

        if (Parsed.Count > 10_000)
        {
            Parsed.Clear();
        }

        Parsed[text] = expression!;
        return expression!;
    }

    public static TimeZoneInfo Zone(string id) =>
        DefinitionValidator.TryFindTimeZone(id, out var zone) ? zone! : throw new InvalidOperationException($"Unknown time zone '{id}'.");

    /// <summary>The first fire time strictly after <paramref name="after"/>.</summary>
    public static DateTimeOffset? Next(string cron, string timeZone, DateTimeOffset after) =>
        Cron(cron).GetNextOccurrence(after, Zone(timeZone))?.ToUniversalTime();

    /// <summary>Fire times in [<paramref name="from"/>, <paramref name="to"/>], at most <paramref name="max"/> + 1 (so callers can tell "too many").</summary>
    public static List<DateTimeOffset> Between(string cron, string timeZone, DateTimeOffset from, DateTimeOffset to, int max) =>
        Cron(cron).GetOccurrences(from, to, Zone(timeZone), fromInclusive: true, toInclusive: true).Take(max + 1).Select(t => t.ToUniversalTime()).ToList();
}

/// <summary>Keeps a workflow's schedule row in step with its latest version (on submit and delete).</summary>
public static class ScheduleSync
{
    public static async Task ApplyAsync(WorkflowsDbContext db, Workflow workflow, WorkflowDefinition definition, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(workflow);
        ArgumentNullException.ThrowIfNull(definition);
        var row = await db.Schedules.SingleOrDefaultAsync(s => s.WorkflowId == workflow.Id, cancellationToken);
        if (definition.Schedule is not { } schedule)
        {
            if (row is not null)
            {
                db.Schedules.Remove(row);
            }

            return;
        }

        if (row is null)
        {
            row = new WorkflowSchedule { WorkflowId = workflow.Id, ProjectId = workflow.ProjectId, Cron = schedule.Cron, TimeZone = schedule.TimeZone, Overlap = string.Empty };
            db.Schedules.Add(row);
        }

        // A changed cron or zone starts from now; an unchanged one keeps its place (and its missed times).
        if (row.NextFireAt is null || row.Cron != schedule.Cron || row.TimeZone != schedule.TimeZone)
        {
            row.NextFireAt = ScheduleMath.Next(schedule.Cron, schedule.TimeZone, now);
        }

        row.Cron = schedule.Cron;
        row.TimeZone = schedule.TimeZone;
        row.Overlap = DefinitionRules.OverlapName(schedule.Overlap);
        row.CatchUp = schedule.CatchUp;
        row.UpdatedAt = now;
    }

    public static async Task RemoveAsync(WorkflowsDbContext db, Guid workflowId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        if (await db.Schedules.SingleOrDefaultAsync(s => s.WorkflowId == workflowId, cancellationToken) is { } row)
        {
            db.Schedules.Remove(row);
        }
    }
}
