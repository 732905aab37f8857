using System.Security.Claims;
using System.Text.Json.Nodes;
using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;
using MlPlatform.Workflows.WorkflowDefinitions;

namespace MlPlatform.Workflows.Schedules;

public sealed record ScheduleDto(
    string Workflow,
    string Cron,
    string TimeZone,
    string Overlap,
    bool CatchUp,
    bool Paused,
    DateTimeOffset? NextFireAt,
    DateTimeOffset? LastFireAt,
    int SkippedFires,
    IReadOnlyList<DateTimeOffset> Upcoming);

/// <summary>The workflow's schedule; 404 when the workflow has none.</summary>
public sealed record GetSchedule(ClaimsPrincipal Caller, string Project, string Workflow) : IQuery<ScheduleDto>;

public sealed class GetScheduleHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, TimeProvider clock) : IQueryHandler<GetSchedule, ScheduleDto>
{
    public async ValueTask<ScheduleDto> Handle(GetSchedule query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        return await ScheduleRead.GetAsync(db, access.ProjectId, query.Workflow, clock.GetUtcNow(), cancellationToken);
    }
}

/// <summary>Pauses (no fire times are taken while paused) or resumes (from now on) a workflow's schedule.</summary>
public sealed record SetSchedulePaused(ClaimsPrincipal Caller, string Project, string Workflow, bool Paused) : ICommand<ScheduleDto>;

public sealed class SetSchedulePausedHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, TimeProvider clock) : ICommandHandler<SetSchedulePaused, ScheduleDto>
{
    public async ValueTask<ScheduleDto> Handle(SetSchedulePaused command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var workflow = await WorkflowLookup.FindLive(db, access.ProjectId, command.Workflow, cancellationToken);
        var schedule = await db.Schedules.SingleOrDefaultAsync(s => s.WorkflowId == workflow.Id, cancellationToken)
            ?? throw new NotFoundException("Schedule", command.Workflow);
        var now = clock.GetUtcNow();
        if (schedule.Paused != command.Paused)
        {
            schedule.Paused = command.Paused;
            schedule.UpdatedAt = now;
            if (!command.Paused)
            {
                // Resuming does not replay the paused time: that is what a backfill is for.
                schedule.NextFireAt = ScheduleMath.Next(schedule.Cron, schedule.TimeZone, now);
            }

            await db.SaveChangesAsync(cancellationToken);
        }

        return await ScheduleRead.GetAsync(db, access.ProjectId, command.Workflow, now, cancellationToken);
    }
}

public static class ScheduleRead
{
    public static async Task<ScheduleDto> GetAsync(WorkflowsDbContext db, Guid projectId, string name, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var workflow = await WorkflowLookup.FindLive(db, projectId, name, cancellationToken);
        var s = await db.Schedules.AsNoTracking().SingleOrDefaultAsync(x => x.WorkflowId == workflow.Id, cancellationToken)
            ?? throw new NotFoundException("Schedule", name);
        var upcoming = new List<DateTimeOffset>();
        for (var at = s.Paused ? null : s.NextFireAt; at is { } fire && upcoming.Count < 5; at = ScheduleMath.Next(s.Cron, s.TimeZone, fire))
        {
            upcoming.Add(fire);
        }

        return new ScheduleDto(workflow.Name, s.Cron, s.TimeZone, s.Overlap, s.CatchUp, s.Paused, s.Paused ? null : s.NextFireAt, s.LastFireAt, s.SkippedFires, upcoming);
    }
}

public sealed record BackfillBody(DateTimeOffset? From, DateTimeOffset? To, JsonObject? Parameters);

public sealed record BackfillRunDto(Guid Id, DateTimeOffset ScheduledAt);

public sealed record BackfillDto(string Workflow, int Version, IReadOnlyList<BackfillRunDto> Runs);

/// <summary>
/// One run per cron fire time in [from, to] (both inclusive) of a scheduled workflow, each with its
/// fire time as <c>${run.scheduledAt}</c>; at most <see cref="BackfillValidator.MaxRuns"/>. All or none are created.
/// </summary>
public sealed record Backfill(ClaimsPrincipal Caller, string Project, string Workflow, DateTimeOffset? From, DateTimeOffset? To, JsonObject? Parameters) : ICommand<BackfillDto>;

public sealed class BackfillValidator : AbstractValidator<Backfill>
{
    public const int MaxRuns = 1_000;

    public BackfillValidator()
    {
        RuleFor(c => c.From).NotNull();
        RuleFor(c => c.To).NotNull();
        RuleFor(c => c.To).GreaterThanOrEqualTo(c => c.From).When(c => c.From is not null && c.To is not null).WithMessage("'to' must not be before 'from'.");
    }
}

public sealed class BackfillHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, RunStarter starter, RunEngine engine) : ICommandHandler<Backfill, BackfillDto>
{
    public async ValueTask<BackfillDto> Handle(Backfill command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var workflow = await WorkflowLookup.FindLive(db, access.ProjectId, command.Workflow, cancellationToken);
        var (version, definition) = await starter.LatestAsync(workflow, cancellationToken);
        if (definition.Schedule is not { } schedule)
        {
            throw new ConflictException($"The workflow '{workflow.Name}' has no schedule to backfill; its latest version has no 'schedule'.");
        }

        var fires = ScheduleMath.Between(schedule.Cron, schedule.TimeZone, command.From!.Value, command.To!.Value, BackfillValidator.MaxRuns);
        if (fires.Count > BackfillValidator.MaxRuns)
        {
            throw new BadRequestException($"The range holds more than {BackfillValidator.MaxRuns} fire times of '{schedule.Cron}'; backfill it in parts.");
        }

        var runs = fires.Select(fire => starter.NewRun(workflow, version, definition, command.Parameters, RunTriggers.Backfill, fire, command.Caller.SubjectId())).ToList();
        var started = new List<(WorkflowRun Run, List<StepAttempt> Attempts)>();
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            started.AddRange(runs.Select(run => (run, engine.Prepare(run, definition))));
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        foreach (var (run, attempts) in started)
        {
            await engine.AfterCommitAsync(run, attempts, cancellationToken);
        }

        return new BackfillDto(workflow.Name, version.Version, runs.Select(r => new BackfillRunDto(r.Id, r.ScheduledAt!.Value)).ToList());
    }
}

public static class ScheduleEndpoints
{
    public static void MapScheduleEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var group = endpoints.MapGroup("/api/v1/projects/{project}/workflows/{name}")
            .WithTags("Schedules")
            .RequireAuthorization(PlatformPolicies.Authenticated);

        group.MapGet("/schedule", async Task<Ok<ScheduleDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetSchedule(user, project, name), ct)))
            .WithSummary("The workflow's schedule: cron, time zone, policies, paused, next fire times (404 if it has none)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/schedule/pause", async Task<Ok<ScheduleDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new SetSchedulePaused(user, project, name, Paused: true), ct)))
            .WithSummary("Pause the schedule: no runs are started by it until it is resumed")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/schedule/resume", async Task<Ok<ScheduleDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new SetSchedulePaused(user, project, name, Paused: false), ct)))
            .WithSummary("Resume the schedule from the next fire time after now (paused time is not replayed)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/backfill", async Task<Accepted<BackfillDto>> (string project, string name, BackfillBody body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var result = await mediator.Send(new Backfill(user, project, name, body.From, body.To, body.Parameters), ct);
                return TypedResults.Accepted($"/api/v1/projects/{project}/runs?workflow={name}", result);
            })
            .WithSummary("Start one run per cron fire time in [from, to] with ${run.scheduledAt} set to it (at most 1000)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);
    }
}
