using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Persistence;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.Workflows.WorkflowDefinitions;

public sealed record ListWorkflows(ClaimsPrincipal Caller, string Project, int Offset, int Limit) : IQuery<Page<WorkflowSummaryDto>>, IPagedQuery;

public sealed class ListWorkflowsValidator : AbstractValidator<ListWorkflows>
{
    public ListWorkflowsValidator()
    {
        this.Paged();
    }
}

/// <summary>The project's live workflows by name.</summary>
public sealed class ListWorkflowsHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListWorkflows, Page<WorkflowSummaryDto>>
{
    public async ValueTask<Page<WorkflowSummaryDto>> Handle(ListWorkflows query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var live = db.Workflows.AsNoTracking().Where(w => w.ProjectId == access.ProjectId && w.DeletedAt == null);
        var total = await live.CountAsync(cancellationToken);
        var items = await live.OrderBy(w => w.Name).Skip(query.Offset).Take(query.Limit)
            .Select(w => new WorkflowSummaryDto(w.Id, w.Name, w.Description, w.LatestVersion, w.CreatedAt, w.UpdatedAt))
            .ToListAsync(cancellationToken);
        return new Page<WorkflowSummaryDto>(items, total, query.Offset, query.Limit);
    }
}

/// <summary>A workflow at its latest version, or at <see cref="Version"/>.</summary>
public sealed record GetWorkflow(ClaimsPrincipal Caller, string Project, string Name, int? Version = null) : IQuery<WorkflowDto>;

public sealed class GetWorkflowHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetWorkflow, WorkflowDto>
{
    public async ValueTask<WorkflowDto> Handle(GetWorkflow query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var workflow = await WorkflowLookup.FindLive(db, access.ProjectId, query.Name, cancellationToken);
        var number = query.Version ?? workflow.LatestVersion;
        var version = await db.WorkflowVersions.AsNoTracking()
            .SingleOrDefaultAsync(v => v.WorkflowId == workflow.Id && v.Version == number, cancellationToken)
            ?? throw new NotFoundException("Workflow version", $"{query.Name}/{number}");
        return WorkflowMapping.ToDto(access.ProjectName, workflow, version);
    }
}

public sealed record ListWorkflowVersions(ClaimsPrincipal Caller, string Project, string Name, int Offset, int Limit) : IQuery<Page<WorkflowVersionSummaryDto>>, IPagedQuery;

public sealed class ListWorkflowVersionsValidator : AbstractValidator<ListWorkflowVersions>
{
    public ListWorkflowVersionsValidator()
    {
        this.Paged();
    }
}

/// <summary>A workflow's versions, newest first.</summary>
public sealed class ListWorkflowVersionsHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer)
    : IQueryHandler<ListWorkflowVersions, Page<WorkflowVersionSummaryDto>>
{
    public async ValueTask<Page<WorkflowVersionSummaryDto>> Handle(ListWorkflowVersions query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var workflow = await WorkflowLookup.FindLive(db, access.ProjectId, query.Name, cancellationToken);
        var versions = db.WorkflowVersions.AsNoTracking().Where(v => v.WorkflowId == workflow.Id);
        var total = await versions.CountAsync(cancellationToken);
        var items = await versions.OrderByDescending(v => v.Version).Skip(query.Offset).Take(query.Limit)
            .Select(v => new WorkflowVersionSummaryDto(v.Version, v.ContentHash, v.SourceFormat, v.CreatedAt, v.CreatedBy))
            .ToListAsync(cancellationToken);
        return new Page<WorkflowVersionSummaryDto>(items, total, query.Offset, query.Limit);
    }
}

internal static class WorkflowLookup
{
    public static async Task<Workflow> FindLive(WorkflowsDbContext db, Guid projectId, string name, CancellationToken cancellationToken) =>
        await db.Workflows.AsNoTracking()
            .SingleOrDefaultAsync(w => w.ProjectId == projectId && w.Name == name && w.DeletedAt == null, cancellationToken)
        ?? throw new NotFoundException("Workflow", name);
}
