using System.Security.Claims;
using System.Text.RegularExpressions;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.Projects;

public sealed record ProjectDto(Guid Id, string Name, string? Description, DateTimeOffset CreatedAt, string? MyRole, bool IAmApprover);

public sealed record MemberDto(Guid UserId, string Username, string Role, bool IsApprover, DateTimeOffset Since);

public static partial class ProjectRules
{
    /// <summary>Project names go into URLs and headers: lower-case letters, digits and dashes only.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9-]{1,62}\z")]
    public static partial Regex NamePattern();
}

public sealed record CreateProjectRequest(string? Name, string? Description);

public sealed record CreateProject(ClaimsPrincipal Caller, string Name, string? Description) : ICommand<ProjectDto>;

public sealed class CreateProjectValidator : AbstractValidator<CreateProject>
{
    public CreateProjectValidator()
    {
        RuleFor(c => c.Name).NotEmpty().Matches(ProjectRules.NamePattern())
            .WithMessage("The project name must be 2 to 63 lower-case letters, digits or '-', starting with a letter or digit.");
        RuleFor(c => c.Description).MaximumLength(1000);
    }
}

/// <summary>Any user may create a project and becomes its Owner and approver.</summary>
public sealed class CreateProjectHandler(UserManagementDbContext db, IAuditLog audit, TimeProvider clock) : ICommandHandler<CreateProject, ProjectDto>
{
    public async ValueTask<ProjectDto> Handle(CreateProject command, CancellationToken cancellationToken)
    {
        if (command.Caller.IsServiceAccount())
        {
            throw new ForbiddenException("Service accounts cannot create projects.");
        }

        if (await db.Projects.AnyAsync(p => p.Name == command.Name, cancellationToken))
        {
            throw new ConflictException($"A project named '{command.Name}' already exists.");
        }

        var now = clock.GetUtcNow();
        var userId = command.Caller.SubjectId()!.Value;
        var project = new Project { Id = Guid.CreateVersion7(), Name = command.Name, Description = command.Description, CreatedBy = userId, CreatedAt = now };
        db.Projects.Add(project);
        db.Memberships.Add(new Membership { ProjectId = project.Id, UserId = userId, Role = ProjectRole.Owner, IsApprover = true, CreatedAt = now });
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Lost a race with a concurrent create of the same name (the unique index held).
            throw new ConflictException($"A project named '{command.Name}' already exists.");
        }

        await audit.RecordAsync(new AuditEvent("project.created", AuditOutcomes.Success, $"project/{project.Name}", project.Id), cancellationToken);
        return new ProjectDto(project.Id, project.Name, project.Description, project.CreatedAt, nameof(ProjectRole.Owner), true);
    }
}

public sealed record ListProjects(ClaimsPrincipal Caller) : IQuery<IReadOnlyList<ProjectDto>>;

/// <summary>The caller's projects (administrators see all).</summary>
public sealed class ListProjectsHandler(UserManagementDbContext db) : IQueryHandler<ListProjects, IReadOnlyList<ProjectDto>>
{
    public async ValueTask<IReadOnlyList<ProjectDto>> Handle(ListProjects query, CancellationToken cancellationToken)
    {
        var subject = query.Caller.SubjectId()!.Value;
        if (query.Caller.IsServiceAccount())
        {
            var projectId = Guid.Parse(query.Caller.FindFirstValue(PlatformClaims.ServiceProject)!);
            var role = query.Caller.FindFirstValue(PlatformClaims.ServiceRole);
            return await db.Projects.AsNoTracking().Where(p => p.Id == projectId)
                .Select(p => new ProjectDto(p.Id, p.Name, p.Description, p.CreatedAt, role, false)).ToListAsync(cancellationToken);
        }

        var isAdmin = query.Caller.IsAdmin();
        var rows = await (
            from p in db.Projects.AsNoTracking()
            join m in db.Memberships.AsNoTracking().Where(m => m.UserId == subject) on p.Id equals m.ProjectId into mine
            from m in mine.DefaultIfEmpty()
            where m != null || isAdmin
            orderby p.Name
            select new { p.Id, p.Name, p.Description, p.CreatedAt, Role = m == null ? (ProjectRole?)null : m.Role, Approver = m != null && m.IsApprover })
            .ToListAsync(cancellationToken);
        return rows.Select(r => new ProjectDto(r.Id, r.Name, r.Description, r.CreatedAt, r.Role?.ToString(), r.Approver)).ToList();
    }
}

public sealed record GetProject(ClaimsPrincipal Caller, string Project) : IQuery<ProjectDto>;

public sealed class GetProjectHandler(UserManagementDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetProject, ProjectDto>
{
    public async ValueTask<ProjectDto> Handle(GetProject query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var project = await db.Projects.AsNoTracking().SingleAsync(p => p.Id == access.ProjectId, cancellationToken);
        return new ProjectDto(project.Id, project.Name, project.Description, project.CreatedAt, access.Role.ToString(), access.IsApprover);
    }
}

public sealed record ListMembers(ClaimsPrincipal Caller, string Project) : IQuery<IReadOnlyList<MemberDto>>;

public sealed class ListMembersHandler(UserManagementDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListMembers, IReadOnlyList<MemberDto>>
{
    public async ValueTask<IReadOnlyList<MemberDto>> Handle(ListMembers query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var rows = await (
            from m in db.Memberships.AsNoTracking()
            join u in db.Users.AsNoTracking() on m.UserId equals u.Id
            where m.ProjectId == access.ProjectId
            orderby u.NormalizedUsername
            select new { m.UserId, u.Username, m.Role, m.IsApprover, m.CreatedAt }).ToListAsync(cancellationToken);
        return rows.Select(r => new MemberDto(r.UserId, r.Username, r.Role.ToString(), r.IsApprover, r.CreatedAt)).ToList();
    }
}

/// <summary>Only these fields are read from the body; the project and user come from the route.</summary>
public sealed record PutMemberRequest(string? Role, bool IsApprover);

public sealed record PutMember(ClaimsPrincipal Caller, string Project, Guid UserId, string Role, bool IsApprover) : ICommand<MemberDto>;

public sealed class PutMemberValidator : AbstractValidator<PutMember>
{
    public PutMemberValidator() =>
        RuleFor(c => c.Role).Must(r => Enum.TryParse<ProjectRole>(r, ignoreCase: true, out var role) && Enum.IsDefined(role))
            .WithMessage("The role must be Owner, Maintainer or Viewer.");
}

/// <summary>Adds a member or changes a member's role (Owners, or administrators).</summary>
public sealed class PutMemberHandler(UserManagementDbContext db, IProjectAuthorizer authorizer, ProjectAuthorizer cache, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<PutMember, MemberDto>
{
    public async ValueTask<MemberDto> Handle(PutMember command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Manage, cancellationToken);
        var role = Enum.Parse<ProjectRole>(command.Role, ignoreCase: true);
        var user = await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == command.UserId, cancellationToken)
            ?? throw new NotFoundException("User", command.UserId.ToString());
        var membership = await db.Memberships.SingleOrDefaultAsync(m => m.ProjectId == access.ProjectId && m.UserId == user.Id, cancellationToken);
        var before = membership is null ? "none" : $"{membership.Role}{(membership.IsApprover ? "+approver" : string.Empty)}";
        if (membership is null)
        {
            membership = new Membership { ProjectId = access.ProjectId, UserId = user.Id, CreatedAt = clock.GetUtcNow() };
            db.Memberships.Add(membership);
        }
        else if (membership.Role == ProjectRole.Owner && role != ProjectRole.Owner)
        {
            await EnsureAnotherOwner(access.ProjectId, user.Id, cancellationToken);
        }

        membership.Role = role;
        membership.IsApprover = command.IsApprover;
        db.AddIntegrationEvent(new ProjectMembershipChanged(Guid.CreateVersion7(), clock.GetUtcNow(), access.ProjectId, user.Id), clock);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // A concurrent request added the same member first (the primary key held).
            throw new ConflictException("The membership was changed by another request; read it and try again.");
        }
        cache.Forget(access.ProjectId, user.Id);
        await audit.RecordAsync(
            new AuditEvent("project.member.role_changed", AuditOutcomes.Success, $"project/{access.ProjectName}/members/{user.Id}", access.ProjectId,
                Details: $"{before} -> {role}{(command.IsApprover ? "+approver" : string.Empty)}"),
            cancellationToken);
        return new MemberDto(user.Id, user.Username, role.ToString(), command.IsApprover, membership.CreatedAt);
    }

    private async Task EnsureAnotherOwner(Guid projectId, Guid userId, CancellationToken cancellationToken)
    {
        if (!await db.Memberships.AnyAsync(m => m.ProjectId == projectId && m.UserId != userId && m.Role == ProjectRole.Owner, cancellationToken))
        {
            throw new ConflictException("A project needs at least one Owner.");
        }
    }
}

public sealed record RemoveMember(ClaimsPrincipal Caller, string Project, Guid UserId) : ICommand<Unit>;

public sealed class RemoveMemberHandler(UserManagementDbContext db, IProjectAuthorizer authorizer, ProjectAuthorizer cache, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<RemoveMember, Unit>
{
    public async ValueTask<Unit> Handle(RemoveMember command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Manage, cancellationToken);
        var membership = await db.Memberships.SingleOrDefaultAsync(m => m.ProjectId == access.ProjectId && m.UserId == command.UserId, cancellationToken)
            ?? throw new NotFoundException("Member", command.UserId.ToString());
        if (membership.Role == ProjectRole.Owner
            && !await db.Memberships.AnyAsync(m => m.ProjectId == access.ProjectId && m.UserId != command.UserId && m.Role == ProjectRole.Owner, cancellationToken))
        {
            throw new ConflictException("A project needs at least one Owner.");
        }

        db.Memberships.Remove(membership);
        db.AddIntegrationEvent(new ProjectMembershipChanged(Guid.CreateVersion7(), clock.GetUtcNow(), access.ProjectId, command.UserId), clock);
        await db.SaveChangesAsync(cancellationToken);
        cache.Forget(access.ProjectId, command.UserId);
        await audit.RecordAsync(
            new AuditEvent("project.member.removed", AuditOutcomes.Success, $"project/{access.ProjectName}/members/{command.UserId}", access.ProjectId, Details: membership.Role.ToString()),
            cancellationToken);
        return Unit.Value;
    }
}
