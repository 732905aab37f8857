using System.Security.Claims;
using System.Text.Json.Nodes;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Runs;

public sealed record DecisionBody(string? Comment);

public sealed record ApprovalDto(
    Guid Id,
    Guid RunId,
    string Workflow,
    string StepId,
    string State,
    string Message,
    IReadOnlyList<string> Roles,
    IReadOnlyList<string> Approvers,
    DateTimeOffset RequestedAt,
    DateTimeOffset? DecidedAt,
    string? DecidedBy,
    string? Comment);

/// <summary>
/// Approves or rejects an approval step that is waiting. Who may: a member holding one of the
/// step's roles (Approver = the project's approver right) or named in its approvers; anyone else
/// gets 403. A step that is not waiting answers 409.
/// </summary>
public sealed record DecideApproval(ClaimsPrincipal Caller, string Project, Guid RunId, string StepId, bool Approve, string? Comment) : ICommand<ApprovalDto>;

public sealed class DecideApprovalValidator : AbstractValidator<DecideApproval>
{
    public DecideApprovalValidator()
    {
        RuleFor(c => c.Comment).MaximumLength(2000);
    }
}

public sealed class DecideApprovalHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, RunEngine engine) : ICommandHandler<DecideApproval, ApprovalDto>
{
    public async ValueTask<ApprovalDto> Handle(DecideApproval command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var run = await RunLookup.FindAsync(db, access.ProjectId, command.RunId, cancellationToken);
        var step = await db.RunSteps.AsNoTracking().SingleOrDefaultAsync(s => s.RunId == run.Id && s.StepId == command.StepId, cancellationToken)
            ?? throw new NotFoundException("Step", command.StepId);
        var approval = await db.Approvals.AsNoTracking()
            .Where(a => a.RunStepId == step.Id && a.State == ApprovalStates.Waiting)
            .SingleOrDefaultAsync(cancellationToken)
            ?? throw new ConflictException($"The step '{command.StepId}' is not waiting for a decision (it is {step.State}).");
        var dto = Approvals.ToDto(approval, run.WorkflowName);
        var name = command.Caller.FindFirstValue(PlatformClaims.Name) ?? command.Caller.SubjectId()?.ToString() ?? "unknown";
        if (!Approvals.MayDecide(access, name, dto.Roles, dto.Approvers))
        {
            throw new ForbiddenException($"Deciding this approval needs one of the roles {string.Join(", ", dto.Roles)}"
                + (dto.Approvers.Count > 0 ? $" or being one of {string.Join(", ", dto.Approvers)}." : "."));
        }

        var comment = string.IsNullOrWhiteSpace(command.Comment) ? null : command.Comment.Trim();
        if (!await engine.DecideAsync(approval.Id, command.Approve, command.Caller.SubjectId(), name, comment, cancellationToken))
        {
            throw new ConflictException($"The step '{command.StepId}' is no longer waiting for a decision.");
        }

        var decided = await db.Approvals.AsNoTracking().SingleAsync(a => a.Id == approval.Id, cancellationToken);
        return Approvals.ToDto(decided, run.WorkflowName);
    }
}

/// <summary>The project's approvals, newest first; <c>state=waiting</c> lists what needs a decision.</summary>
public sealed record ListApprovals(ClaimsPrincipal Caller, string Project, string? State, int Offset, int Limit) : IQuery<Page<ApprovalDto>>, IPagedQuery;

public sealed class ListApprovalsValidator : AbstractValidator<ListApprovals>
{
    private static readonly string[] States = [ApprovalStates.Waiting, ApprovalStates.Approved, ApprovalStates.Rejected, ApprovalStates.Cancelled];

    public ListApprovalsValidator()
    {
        this.Paged();
        RuleFor(q => q.State).Must(s => s is null || States.Contains(s)).WithMessage($"Use one of {string.Join(", ", States)}.");
    }
}

public sealed class ListApprovalsHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListApprovals, Page<ApprovalDto>>
{
    public async ValueTask<Page<ApprovalDto>> Handle(ListApprovals query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var approvals = db.Approvals.AsNoTracking().Where(a => a.ProjectId == access.ProjectId);
        if (query.State is { } state)
        {
            approvals = approvals.Where(a => a.State == state);
        }

        var total = await approvals.CountAsync(cancellationToken);
        var rows = await (from a in approvals
                          join r in db.Runs on a.RunId equals r.Id
                          orderby a.RequestedAt descending, a.Id descending
                          select new { a, r.WorkflowName }).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<ApprovalDto>(rows.Select(x => Approvals.ToDto(x.a, x.WorkflowName)).ToList(), total, query.Offset, query.Limit);
    }
}

public static class Approvals
{
    public static ApprovalDto ToDto(ApprovalRequest a, string workflow)
    {
        ArgumentNullException.ThrowIfNull(a);
        return new ApprovalDto(a.Id, a.RunId, workflow, a.StepId, a.State, a.Message, Names(a.Roles), Names(a.Approvers), a.RequestedAt, a.DecidedAt, a.DecidedByName, a.Comment);
    }

    private static List<string> Names(string json) =>
        JsonNode.Parse(json) is JsonArray list ? list.Select(n => n?.GetValue<string>()).OfType<string>().ToList() : [];

    /// <summary>A role admits its holders and the roles above it; <c>Approver</c> is the project's approver right (or a global admin).</summary>
    public static bool MayDecide(ProjectAccess access, string username, IReadOnlyList<string> roles, IReadOnlyList<string> approvers)
    {
        ArgumentNullException.ThrowIfNull(access);
        ArgumentNullException.ThrowIfNull(roles);
        ArgumentNullException.ThrowIfNull(approvers);
        if (approvers.Contains(username, StringComparer.Ordinal))
        {
            return true;
        }

        return roles.Any(role => role switch
        {
            "Approver" => access.IsApprover || access.IsAdmin,
            _ when Enum.TryParse<ProjectRole>(role, out var needed) => access.Role >= needed || access.IsAdmin,
            _ => false,
        });
    }
}

public static class RunLookup
{
    /// <summary>The run in the caller's project; another project's run is as unknown as a missing one.</summary>
    public static async Task<WorkflowRun> FindAsync(WorkflowsDbContext db, Guid projectId, Guid runId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        return await db.Runs.AsNoTracking().SingleOrDefaultAsync(r => r.Id == runId && r.ProjectId == projectId, cancellationToken)
            ?? throw new NotFoundException("Run", runId.ToString());
    }
}

/// <summary>Runs a failed run again from its failed steps, keeping what succeeded; 409 unless the run failed.</summary>
public sealed record RetryRun(ClaimsPrincipal Caller, string Project, Guid RunId) : ICommand<Unit>;

public sealed class RetryRunHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, RunEngine engine) : ICommandHandler<RetryRun, Unit>
{
    public async ValueTask<Unit> Handle(RetryRun command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var run = await RunLookup.FindAsync(db, access.ProjectId, command.RunId, cancellationToken);
        if (!await engine.RetryAsync(run.Id, cancellationToken))
        {
            throw new ConflictException($"Only a failed run can be retried; this one is {await db.Runs.AsNoTracking().Where(r => r.Id == run.Id).Select(r => r.State).SingleAsync(cancellationToken)}.");
        }

        return Unit.Value;
    }
}

public sealed record MarkStepBody(string? State, JsonObject? Outputs, string? Comment);

/// <summary>Marks a failed step succeeded (outputs optional) or skipped by hand; audited; the run goes on.</summary>
public sealed record MarkStep(ClaimsPrincipal Caller, string Project, Guid RunId, string StepId, string? State, JsonObject? Outputs, string? Comment) : ICommand<Unit>;

public sealed class MarkStepValidator : AbstractValidator<MarkStep>
{
    public MarkStepValidator()
    {
        RuleFor(c => c.State).NotEmpty().Must(s => s is StepStates.Succeeded or StepStates.Skipped)
            .WithMessage("state must be 'succeeded' or 'skipped'.");
        RuleFor(c => c.Comment).MaximumLength(2000);
        RuleFor(c => c.Outputs).Must(o => o is null || o.ToJsonString().Length <= 64 * 1024).WithMessage("outputs must be at most 64 KiB of JSON.");
        RuleFor(c => c.Outputs).Must(o => o is null).When(c => c.State == StepStates.Skipped).WithMessage("A skipped step has no outputs.");
    }
}

public sealed class MarkStepHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, RunEngine engine, IAuditLog audit) : ICommandHandler<MarkStep, Unit>
{
    public async ValueTask<Unit> Handle(MarkStep command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var run = await RunLookup.FindAsync(db, access.ProjectId, command.RunId, cancellationToken);
        if (!await db.RunSteps.AnyAsync(s => s.RunId == run.Id && s.StepId == command.StepId, cancellationToken))
        {
            throw new NotFoundException("Step", command.StepId);
        }

        var name = command.Caller.FindFirstValue(PlatformClaims.Name) ?? command.Caller.SubjectId()?.ToString() ?? "unknown";
        var comment = string.IsNullOrWhiteSpace(command.Comment) ? null : command.Comment.Trim();
        if (await engine.MarkStepAsync(run.Id, command.StepId, command.State!, command.Outputs, name, comment, cancellationToken) is { } conflict)
        {
            throw new ConflictException(conflict);
        }

        await audit.RecordAsync(
            new AuditEvent("workflow.step.marked", AuditOutcomes.Success, $"run/{run.Id}/step/{command.StepId}", access.ProjectId, $"{command.State}{(comment is null ? string.Empty : ": " + comment)}"),
            cancellationToken);
        return Unit.Value;
    }
}
