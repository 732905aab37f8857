using System.Security.Claims;
using System.Text.Json.Nodes;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.WorkflowDefinitions;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.Workflows.Runs;

/// <summary>A run with every step and attempt; another project's run is as unknown as a missing one.</summary>
public sealed record GetRun(ClaimsPrincipal Caller, string Project, Guid RunId) : IQuery<RunDto>;

public sealed class GetRunHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, DefinitionCache definitions, TimeProvider clock) : IQueryHandler<GetRun, RunDto>
{
    public async ValueTask<RunDto> Handle(GetRun query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var run = await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == query.RunId && r.ProjectId == access.ProjectId, cancellationToken)
            ?? throw new NotFoundException("Run", query.RunId.ToString());
        var steps = await db.RunSteps.AsNoTracking().Where(s => s.RunId == run.Id).ToListAsync(cancellationToken);
        var attempts = (await db.StepAttempts.AsNoTracking().Where(a => a.RunId == run.Id).ToListAsync(cancellationToken))
            .ToLookup(a => a.RunStepId);
        var definition = await definitions.GetAsync(db, run.WorkflowVersionId, cancellationToken);
        var dependsOn = definition.Steps.ToDictionary(s => s.Id, s => s.DependsOn, StringComparer.Ordinal);
        var approvals = (await db.Approvals.AsNoTracking().Where(a => a.RunId == run.Id).ToListAsync(cancellationToken))
            .GroupBy(a => a.RunStepId).ToDictionary(g => g.Key, g => g.OrderByDescending(a => a.RequestedAt).First());
        var now = clock.GetUtcNow();
        var stepDtos = steps.OrderBy(s => s.Ordinal).Select(s => new RunStepDto(
            s.StepId,
            s.Type,
            s.State,
            s.Outputs is null ? null : JsonNode.Parse(s.Outputs) as JsonObject,
            s.StartedAt,
            s.FinishedAt,
            s.Error,
            attempts[s.Id].OrderBy(a => a.Number)
                .Select(a => new AttemptDto(a.Number, a.State, a.ScheduledFor, a.StartedAt, a.FinishedAt, a.Error)).ToList())
        {
            DependsOn = dependsOn.TryGetValue(s.StepId, out var deps) ? deps : [],
            DurationMs = s.StartedAt is { } started ? ((s.FinishedAt ?? now) - started).TotalMilliseconds : null,
            Override = s.OverriddenBy is { } by ? new StepOverrideDto(by, s.OverriddenAt ?? now, s.OverrideComment) : null,
            Approval = approvals.TryGetValue(s.Id, out var approval) ? Approvals.ToDto(approval, run.WorkflowName) : null,
        }).ToList();
        return new RunDto(
            run.Id,
            access.ProjectName,
            run.WorkflowName,
            run.Version,
            run.State,
            JsonNode.Parse(run.Parameters) as JsonObject ?? [],
            run.CreatedAt,
            run.StartedAt,
            run.FinishedAt,
            run.Error,
            stepDtos)
        {
            WorkflowId = run.WorkflowId,
            Edges = definition.Steps.SelectMany(s => s.DependsOn.Select(d => new RunEdgeDto(d, s.Id))).ToList(),
            DeadlineAt = run.DeadlineAt,
            Trigger = run.Trigger,
            ScheduledAt = run.ScheduledAt,
            DurationMs = run.StartedAt is { } runStarted ? ((run.FinishedAt ?? now) - runStarted).TotalMilliseconds : null,
        };
    }
}

/// <summary>
/// The project's runs, newest first; optionally of one workflow, in one state, created in
/// [<c>from</c>, <c>to</c>), started by one trigger. <see cref="Workflow"/> names the workflow that
/// has the name now (not one deleted under it); <see cref="WorkflowId"/> names any, deleted or not.
/// </summary>
public sealed record ListRuns(ClaimsPrincipal Caller, string Project, string? Workflow, string? State, int Offset, int Limit) : IQuery<Page<RunSummaryDto>>, IPagedQuery
{
    public Guid? WorkflowId { get; init; }

    public DateTimeOffset? From { get; init; }

    public DateTimeOffset? To { get; init; }

    public string? Trigger { get; init; }
}

public sealed class ListRunsValidator : AbstractValidator<ListRuns>
{
    public ListRunsValidator()
    {
        this.Paged();
        RuleFor(q => q.State).Must(s => s is null || RunStates.All.Contains(s))
            .WithMessage($"Use one of {string.Join(", ", RunStates.All)}.");
        RuleFor(q => q.To).GreaterThan(q => q.From).When(q => q.From is not null && q.To is not null).WithMessage("'to' must be after 'from'.");
        RuleFor(q => q.Trigger).Must(t => t is null or RunTriggers.Api or RunTriggers.Schedule or RunTriggers.Backfill or RunTriggers.Event)
            .WithMessage("Use one of api, schedule, backfill, event.");
    }
}

public sealed class ListRunsHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListRuns, Page<RunSummaryDto>>
{
    public async ValueTask<Page<RunSummaryDto>> Handle(ListRuns query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var runs = db.Runs.AsNoTracking().Where(r => r.ProjectId == access.ProjectId);
        if (query.Workflow is { } workflow)
        {
            // The workflow the name means now: a workflow deleted and created again under the same
            // name is another workflow, whose runs are listed by its id (workflowId) instead.
            var current = await db.Workflows.AsNoTracking()
                .Where(w => w.ProjectId == access.ProjectId && w.Name == workflow && w.DeletedAt == null)
                .Select(w => (Guid?)w.Id).SingleOrDefaultAsync(cancellationToken);
            if (current is not { } currentId || (query.WorkflowId is { } wanted && wanted != currentId))
            {
                return new Page<RunSummaryDto>([], 0, query.Offset, query.Limit);
            }

            runs = runs.Where(r => r.WorkflowId == currentId);
        }
        else if (query.WorkflowId is { } workflowId)
        {
            // Any workflow of this project, deleted or not (the project filter keeps others' out).
            runs = runs.Where(r => r.WorkflowId == workflowId);
        }

        if (query.State is { } state)
        {
            runs = runs.Where(r => r.State == state);
        }

        // Times are stored in UTC; SQLite compares their stored form and Npgsql refuses other offsets,
        // so a bound given with an offset (…T01:30+01:00) is turned into the same instant in UTC first.
        if (query.From?.ToUniversalTime() is { } from)
        {
            runs = runs.Where(r => r.CreatedAt >= from);
        }

        if (query.To?.ToUniversalTime() is { } to)
        {
            runs = runs.Where(r => r.CreatedAt < to);
        }

        if (query.Trigger is { } trigger)
        {
            runs = runs.Where(r => r.Trigger == trigger);
        }

        var total = await runs.CountAsync(cancellationToken);
        // Version-7 ids grow with time: ordering by id is newest-first without comparing times.
        var items = await runs.OrderByDescending(r => r.CreatedAt).ThenByDescending(r => r.Id).Skip(query.Offset).Take(query.Limit)
            .Select(r => new RunSummaryDto(r.Id, r.WorkflowName, r.Version, r.State, r.CreatedAt, r.StartedAt, r.FinishedAt, r.Trigger, r.ScheduledAt) { WorkflowId = r.WorkflowId })
            .ToListAsync(cancellationToken);
        return new Page<RunSummaryDto>(items, total, query.Offset, query.Limit);
    }
}
