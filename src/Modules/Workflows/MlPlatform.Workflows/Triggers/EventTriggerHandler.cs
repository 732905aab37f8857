using System.Text.Json;
using System.Text.Json.Nodes;
using FluentValidation;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;

namespace MlPlatform.Workflows.Triggers;

/// <summary>An index of the trigger rules of the workflows' latest versions, by event type, kept in step on submit and delete.</summary>
public sealed class EventTriggerRow
{
    public Guid Id { get; set; }

    public Guid WorkflowId { get; set; }

    public Guid ProjectId { get; set; }

    /// <summary>The event type's full name, as the outbox records it.</summary>
    public required string EventType { get; set; }

    public int Ordinal { get; set; }

    /// <summary>The rule (JSON): event, where, parameters.</summary>
    public required string Rule { get; set; }
}

public static class EventTriggerSync
{
    public static async Task ApplyAsync(WorkflowsDbContext db, IntegrationEventTypes? events, Workflow workflow, IReadOnlyList<EventTrigger> triggers, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(workflow);
        ArgumentNullException.ThrowIfNull(triggers);
        db.EventTriggers.RemoveRange(await db.EventTriggers.Where(t => t.WorkflowId == workflow.Id).ToListAsync(cancellationToken));
        for (var i = 0; i < triggers.Count; i++)
        {
            var type = events is null ? null : EventTriggerRules.Resolve(events, triggers[i].Event);
            db.EventTriggers.Add(new EventTriggerRow
            {
                Id = Guid.CreateVersion7(),
                WorkflowId = workflow.Id,
                ProjectId = workflow.ProjectId,
                EventType = type is null ? triggers[i].Event : IntegrationEventTypes.NameOf(type),
                Ordinal = i,
                Rule = EventTriggerRules.ToJson(triggers[i]).ToJsonString(),
            });
        }
    }
}

/// <summary>
/// Receives every integration event (an open generic handler) and starts a run of each workflow
/// of the event's project whose trigger rule matches. A redelivered event starts nothing new: the
/// run is keyed by the event and the rule (unique), so delivery at least once starts runs once.
/// Events without a <c>projectId</c> start nothing (a rule never reaches across projects).
/// <see cref="TriggerGuard"/> keeps rules from looping (a run's own events, or a cascade back to it).
/// </summary>
public sealed class EventTriggerHandler<TEvent>(WorkflowsDbContext db, RunStarter starter, TriggerOptions options, TimeProvider clock, ILogger<EventTriggerHandler<TEvent>> logger)
    : IIntegrationEventHandler<TEvent>
    where TEvent : IIntegrationEvent
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    public async Task Handle(TEvent integrationEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(integrationEvent);
        var type = IntegrationEventTypes.NameOf(typeof(TEvent));
        var rules = await db.EventTriggers.AsNoTracking().Where(t => t.EventType == type).OrderBy(t => t.WorkflowId).ThenBy(t => t.Ordinal).ToListAsync(cancellationToken);
        if (rules.Count == 0)
        {
            return;
        }

        var evt = JsonSerializer.SerializeToNode(integrationEvent, Web) as JsonObject ?? [];
        if (!(evt["projectId"] is JsonValue p && p.TryGetValue<Guid>(out var projectId)))
        {
            return;
        }

        var cause = TriggerGuard.CauseIn(evt);
        var guard = new TriggerGuard(db, options, clock);
        foreach (var row in rules.Where(r => r.ProjectId == projectId))
        {
            if (JsonNode.Parse(row.Rule) is not JsonObject rule || !EventTriggerRules.Matches(rule["where"] as JsonObject ?? [], evt))
            {
                continue;
            }

            var key = TriggerGuard.KeyFor(integrationEvent.EventId, row.Id, cause);
            var legacyKey = TriggerGuard.LegacyKeyFor(integrationEvent.EventId, row.Id);
            if (await db.Runs.AnyAsync(r => r.WorkflowId == row.WorkflowId && (r.TriggerKey == key || r.TriggerKey == legacyKey), cancellationToken))
            {
                continue;
            }

            var workflow = await db.Workflows.AsNoTracking().SingleOrDefaultAsync(w => w.Id == row.WorkflowId && w.DeletedAt == null, cancellationToken);
            if (workflow is null)
            {
                continue;
            }

            if (await guard.CheckAsync(projectId, workflow.Id, cause, cancellationToken) is var refusal and not TriggerRefusal.None)
            {
                WorkflowMetrics.TriggerRefused(refusal);
#pragma warning disable CA1848 // Rare, and worth a line each time: the user expected a run.
                logger.LogWarning("Trigger {Ordinal} of workflow {Workflow} matched event {EventType} {EventId} (caused by run {Cause}) but started no run: {Reason}",
                    row.Ordinal, workflow.Name, typeof(TEvent).Name, integrationEvent.EventId, cause, refusal switch
                    {
                        TriggerRefusal.Loop => "the event comes from a run of this workflow, directly or through other triggered runs (a loop)",
                        TriggerRefusal.Depth => $"the cascade of triggered runs would exceed {options.MaxCascadeDepth} ({TriggerOptions.Section}:MaxCascadeDepth)",
                        _ => $"its triggers already started {options.MaxRunsPerMinute} runs in the last minute ({TriggerOptions.Section}:MaxRunsPerMinute)",
                    });
#pragma warning restore CA1848
                continue;
            }

            try
            {
                var (version, definition) = await starter.LatestAsync(workflow, cancellationToken);
                var run = starter.NewRun(workflow, version, definition, EventTriggerRules.Map(rule["parameters"] as JsonObject ?? [], evt), RunTriggers.Event, null, null);
                run.TriggerKey = key;
                await starter.StartPreparedAsync(run, definition, cancellationToken);
            }
            catch (ValidationException ex)
            {
                // The event's values do not fit the parameters: retrying the delivery would not help.
#pragma warning disable CA1848 // Rare.
                logger.LogWarning("Trigger {Ordinal} of workflow {Workflow} matched event {EventId} but its parameters are invalid: {Errors}",
                    row.Ordinal, workflow.Name, integrationEvent.EventId, string.Join("; ", ex.Errors.Select(e => $"{e.PropertyName}: {e.ErrorMessage}")));
#pragma warning restore CA1848
            }
            catch (DbUpdateException)
            {
                // Another delivery of the same event started this run first (unique trigger key).
                db.ChangeTracker.Clear();
            }
        }
    }
}
