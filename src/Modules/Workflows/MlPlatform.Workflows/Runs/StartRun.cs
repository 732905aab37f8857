using System.Security.Claims;
using System.Text.Json.Nodes;
using FluentValidation;
using FluentValidation.Results;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.WorkflowDefinitions;

namespace MlPlatform.Workflows.Runs;

/// <summary>Starts a run of a workflow's latest version with the given parameters (defaults fill the rest).</summary>
public sealed record StartRun(ClaimsPrincipal Caller, string Project, string Workflow, JsonObject? Parameters) : ICommand<RunStartedDto>;

public sealed class StartRunHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, RunStarter starter)
    : ICommandHandler<StartRun, RunStartedDto>
{
    public async ValueTask<RunStartedDto> Handle(StartRun command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var workflow = await WorkflowLookup.FindLive(db, access.ProjectId, command.Workflow, cancellationToken);
        var run = await starter.StartAsync(workflow, command.Parameters, RunTriggers.Api, null, command.Caller.SubjectId(), cancellationToken);
        // A run held back by maxActiveRuns may have been admitted right after its commit, in another transaction.
        var state = run.State == RunStates.Waiting
            ? await db.Runs.AsNoTracking().Where(r => r.Id == run.Id).Select(r => r.State).SingleAsync(cancellationToken)
            : run.State;
        return new RunStartedDto(run.Id, state, run.WorkflowName, run.Version);
    }
}

/// <summary>Starts runs of a workflow's latest version: from the API, a schedule, a backfill or an event trigger.</summary>
public sealed class RunStarter(WorkflowsDbContext db, DefinitionCache definitions, RunEngine engine, TimeProvider clock)
{
    public async Task<(WorkflowVersion Version, WorkflowDefinition Definition)> LatestAsync(Workflow workflow, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(workflow);
        var version = await db.WorkflowVersions.AsNoTracking()
            .SingleAsync(v => v.WorkflowId == workflow.Id && v.Version == workflow.LatestVersion, cancellationToken);
        return (version, await definitions.GetAsync(db, version.Id, cancellationToken));
    }

    public async Task<WorkflowRun> StartAsync(Workflow workflow, JsonObject? given, string trigger, DateTimeOffset? scheduledAt, Guid? createdBy, CancellationToken cancellationToken)
    {
        var (version, definition) = await LatestAsync(workflow, cancellationToken);
        var run = NewRun(workflow, version, definition, given, trigger, scheduledAt, createdBy);
        await engine.StartAsync(run, definition, cancellationToken);
        return run;
    }

    public async Task StartPreparedAsync(WorkflowRun run, WorkflowDefinition definition, CancellationToken cancellationToken) =>
        await engine.StartAsync(run, definition, cancellationToken);

    /// <summary>A run (not yet stored) with its parameters checked: every problem at once, each at its path.</summary>
    public WorkflowRun NewRun(Workflow workflow, WorkflowVersion version, WorkflowDefinition definition, JsonObject? given, string trigger, DateTimeOffset? scheduledAt, Guid? createdBy)
    {
        ArgumentNullException.ThrowIfNull(workflow);
        ArgumentNullException.ThrowIfNull(version);
        ArgumentNullException.ThrowIfNull(definition);
        given ??= [];
        var failures = new List<ValidationFailure>();
        var declared = definition.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
        foreach (var (name, _) in given.Where(p => !declared.ContainsKey(p.Key)))
        {
            failures.Add(new ValidationFailure($"parameters.{name}", $"The workflow has no parameter '{name}'."));
        }

        var parameters = new JsonObject();
        foreach (var parameter in definition.Parameters)
        {
            if (given.TryGetPropertyValue(parameter.Name, out var value))
            {
                if (ParameterTypes.Check(parameter.Type, value) is { } problem)
                {
                    failures.Add(new ValidationFailure($"parameters.{parameter.Name}", problem));
                }

                parameters[parameter.Name] = value?.DeepClone();
            }
            else if (parameter.Default is not null)
            {
                parameters[parameter.Name] = parameter.Default.DeepClone();
            }
            else
            {
                failures.Add(new ValidationFailure($"parameters.{parameter.Name}", $"The parameter '{parameter.Name}' has no default and must be given."));
            }
        }

        if (failures.Count > 0)
        {
            throw new ValidationException(failures);
        }

        var now = clock.GetUtcNow();
        return new WorkflowRun
        {
            Id = Guid.CreateVersion7(),
            ProjectId = workflow.ProjectId,
            WorkflowId = workflow.Id,
            WorkflowName = workflow.Name,
            WorkflowVersionId = version.Id,
            Version = version.Version,
            State = RunStates.Queued,
            Parameters = parameters.ToJsonString(),
            CreatedAt = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond)),
            CreatedBy = createdBy,
            Trigger = trigger,
            ScheduledAt = scheduledAt,
        };
    }
}

/// <summary>Cancels a run that has not finished; a finished run answers 409.</summary>
public sealed record CancelRun(ClaimsPrincipal Caller, string Project, Guid RunId) : ICommand<Unit>;

public sealed class CancelRunHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, RunEngine engine) : ICommandHandler<CancelRun, Unit>
{
    public async ValueTask<Unit> Handle(CancelRun command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var state = await db.Runs.AsNoTracking().Where(r => r.Id == command.RunId && r.ProjectId == access.ProjectId)
            .Select(r => r.State).SingleOrDefaultAsync(cancellationToken)
            ?? throw new NotFoundException("Run", command.RunId.ToString());
        if (RunStates.IsTerminal(state) || !await engine.CancelAsync(command.RunId, cancellationToken))
        {
            throw new ConflictException($"The run has already finished.");
        }

        return Unit.Value;
    }
}
