using System.Security.Claims;
using System.Text.Json;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.WorkflowDefinitions;

public sealed record SubmitWorkflowResult(WorkflowDto Workflow, bool Created);

/// <summary>
/// Creates a workflow, or its next version. A definition equal to the latest version (same content
/// hash) creates nothing and answers that version, so re-submitting is idempotent.
/// </summary>
public sealed record SubmitWorkflow(ClaimsPrincipal Caller, string Project, string Content, DefinitionFormat Format) : ICommand<SubmitWorkflowResult>;

public sealed class SubmitWorkflowHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, DefinitionProcessor processor, TimeProvider clock, IEnumerable<SharedKernel.Messaging.IntegrationEventTypes> eventTypes)
    : ICommandHandler<SubmitWorkflow, SubmitWorkflowResult>
{
    /// <summary>Tries when another writer added a version or took the name at the same moment.</summary>
    private const int MaxAttempts = 5;

    public async ValueTask<SubmitWorkflowResult> Handle(SubmitWorkflow command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var valid = DefinitionChecks.ProcessOrThrow(processor, command.Content, command.Format);
        var name = valid.Definition.Name;
        var caller = command.Caller.SubjectId();
        var format = command.Format == DefinitionFormat.Yaml ? "yaml" : "json";
        var events = eventTypes.FirstOrDefault();

        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            // Whole milliseconds: what SQLite stores, so this answer equals a later read.
            var now = clock.GetUtcNow();
            now = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
            var workflow = await db.Workflows
                .SingleOrDefaultAsync(w => w.ProjectId == access.ProjectId && w.Name == name && w.DeletedAt == null, cancellationToken);
            if (workflow is not null)
            {
                var latest = await db.WorkflowVersions.AsNoTracking()
                    .SingleAsync(v => v.WorkflowId == workflow.Id && v.Version == workflow.LatestVersion, cancellationToken);
                if (latest.ContentHash == valid.ContentHash)
                {
                    return new SubmitWorkflowResult(WorkflowMapping.ToDto(access.ProjectName, workflow, latest), Created: false);
                }

                workflow.LatestVersion++;
                workflow.Description = valid.Definition.Description;
                workflow.UpdatedAt = now;
            }
            else
            {
                workflow = new Workflow
                {
                    Id = Guid.CreateVersion7(),
                    ProjectId = access.ProjectId,
                    Name = name,
                    Description = valid.Definition.Description,
                    LatestVersion = 1,
                    CreatedAt = now,
                    CreatedBy = caller,
                    UpdatedAt = now,
                };
                db.Workflows.Add(workflow);
            }

            var version = new WorkflowVersion
            {
                Id = Guid.CreateVersion7(),
                WorkflowId = workflow.Id,
                Version = workflow.LatestVersion,
                Definition = valid.Json,
                ContentHash = valid.ContentHash,
                SourceFormat = format,
                CreatedAt = now,
                CreatedBy = caller,
            };
            db.WorkflowVersions.Add(version);
            await Schedules.ScheduleSync.ApplyAsync(db, workflow, valid.Definition, now, cancellationToken);
            await Triggers.EventTriggerSync.ApplyAsync(db, events, workflow, valid.Definition.Triggers, cancellationToken);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return new SubmitWorkflowResult(WorkflowMapping.ToDto(access.ProjectName, workflow, version), Created: true);
            }
            catch (DbUpdateException) when (attempt < MaxAttempts)
            {
                // Lost a race: another writer took the name (unique index) or the next version number
                // (concurrency token on latest_version). Read again and build on what it stored.
            }
            catch (DbUpdateException)
            {
                throw new ConflictException($"The workflow '{name}' is being changed by others at this moment; try again.");
            }
        }
    }
}

/// <summary>A dry run: the same checks and errors as a submit; nothing is stored.</summary>
public sealed record ValidateWorkflow(ClaimsPrincipal Caller, string Project, string Content, DefinitionFormat Format) : IQuery<ValidationResultDto>;

public sealed class ValidateWorkflowHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, DefinitionProcessor processor, TimeProvider clock)
    : IQueryHandler<ValidateWorkflow, ValidationResultDto>
{
    public async ValueTask<ValidationResultDto> Handle(ValidateWorkflow query, CancellationToken cancellationToken)
    {
        // Read is enough: a dry run changes nothing, and read-only CI accounts can lint definitions.
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var valid = DefinitionChecks.ProcessOrThrow(processor, query.Content, query.Format);
        var latest = await (
                from w in db.Workflows.AsNoTracking()
                join v in db.WorkflowVersions.AsNoTracking() on new { WorkflowId = w.Id, Version = w.LatestVersion } equals new { v.WorkflowId, v.Version }
                where w.ProjectId == access.ProjectId && w.Name == valid.Definition.Name && w.DeletedAt == null
                select new { v.Version, v.ContentHash })
            .SingleOrDefaultAsync(cancellationToken);
        return new ValidationResultDto(
            Valid: true,
            valid.Definition.Name,
            valid.Definition.Steps.Count,
            valid.ContentHash,
            latest?.Version,
            Unchanged: latest?.ContentHash == valid.ContentHash,
            NextRuns(valid.Definition, clock.GetUtcNow()),
            WorkflowMapping.Element(valid.Json));
    }

    private static List<DateTimeOffset> NextRuns(WorkflowDefinition definition, DateTimeOffset now)
    {
        var runs = new List<DateTimeOffset>();
        if (definition.Schedule is not { } schedule
            || !DefinitionValidator.TryParseCron(schedule.Cron, out var cron, out _)
            || !DefinitionValidator.TryFindTimeZone(schedule.TimeZone, out var zone))
        {
            return runs;
        }

        var from = now;
        for (var i = 0; i < 5 && cron!.GetNextOccurrence(from, zone!) is { } next; i++)
        {
            runs.Add(next);
            from = next;
        }

        return runs;
    }
}

internal static class DefinitionChecks
{
    public static ValidDefinition ProcessOrThrow(DefinitionProcessor processor, string content, DefinitionFormat format)
    {
        DefinitionOutcome outcome;
        try
        {
            outcome = processor.Process(content, format);
        }
        catch (DefinitionSyntaxException syntax)
        {
            throw new MalformedDefinitionException(syntax);
        }

        return outcome.Valid ?? throw new InvalidDefinitionException(outcome.Errors);
    }
}

internal static class WorkflowMapping
{
    public static JsonElement Element(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }

    public static WorkflowDto ToDto(string project, Workflow workflow, WorkflowVersion version)
    {
        var root = Element(version.Definition);
        var description = root.TryGetProperty("description", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
        return new WorkflowDto(
            workflow.Id,
            project,
            workflow.Name,
            description,
            version.Version,
            workflow.LatestVersion,
            version.ContentHash,
            version.SourceFormat,
            workflow.CreatedAt,
            version.CreatedAt,
            version.CreatedBy,
            root);
    }
}
