using System.Security.Claims;

namespace MlPlatform.UserManagement.Contracts;

/// <summary>A member's role in a project; each includes the rights of the ones below it.</summary>
public enum ProjectRole
{
    Viewer = 1,
    Maintainer = 2,
    Owner = 3,
}

/// <summary>What a caller wants to do in a project.</summary>
public enum Permission
{
    /// <summary>See the project's objects (Viewer and up).</summary>
    Read = 1,

    /// <summary>Author and run workflows, register models, deploy (Maintainer and up).</summary>
    Write = 2,

    /// <summary>Approve model versions and move protected aliases (the approver right, or a global Admin).</summary>
    Approve = 3,

    /// <summary>Manage members, service accounts and the project itself (Owner).</summary>
    Manage = 4,
}

/// <summary>The project a caller was allowed into, with what they hold there.</summary>
public sealed record ProjectAccess(Guid ProjectId, string ProjectName, ProjectRole Role, bool IsApprover, bool IsAdmin);

/// <summary>
/// The one authorization check every module calls before touching a project's objects.
/// A caller who is not a member gets <c>NotFoundException</c> (404: the project's existence is
/// not revealed); a member without the permission gets <c>ForbiddenException</c> (403).
/// </summary>
public interface IProjectAuthorizer
{
    ValueTask<ProjectAccess> AuthorizeAsync(ClaimsPrincipal principal, string project, Permission permission, CancellationToken cancellationToken = default);
}

/// <summary>Claims every authenticated principal carries (users and service accounts alike).</summary>
public static class PlatformClaims
{
    /// <summary>The user's or service account's id.</summary>
    public const string Subject = "sub";

    public const string Name = "name";

    /// <summary>"user" or "service".</summary>
    public const string PrincipalType = "mlp_typ";

    /// <summary>"true" for a global administrator.</summary>
    public const string Admin = "mlp_admin";

    /// <summary>A service account's project id (service accounts belong to one project).</summary>
    public const string ServiceProject = "mlp_project";

    /// <summary>A service account's role in its project.</summary>
    public const string ServiceRole = "mlp_role";

    /// <summary>The session (refresh-token family) an access token was issued for.</summary>
    public const string Session = "sid";

    public static Guid? SubjectId(this ClaimsPrincipal principal) =>
        Guid.TryParse(principal.FindFirstValue(Subject), out var id) ? id : null;

    public static bool IsAdmin(this ClaimsPrincipal principal) => principal.HasClaim(Admin, "true");

    public static bool IsServiceAccount(this ClaimsPrincipal principal) => principal.HasClaim(PrincipalType, "service");
}

/// <summary>Authorization policy names for endpoints.</summary>
public static class PlatformPolicies
{
    /// <summary>Any authenticated user or service account; project rights are checked by <see cref="IProjectAuthorizer"/>.</summary>
    public const string Authenticated = "authenticated";

    /// <summary>Global administrators only.</summary>
    public const string Admin = "admin";
}

/// <summary>
/// A project's name from its id, for work that runs without a caller (workflow steps, event
/// handlers) and must name the project in URLs, events or lineage. Trusts its caller.
/// </summary>
public interface IProjectDirectory
{
    /// <summary>Null when no project has this id.</summary>
    ValueTask<string?> FindNameAsync(Guid projectId, CancellationToken cancellationToken = default);
}

/// <summary>
/// A user's membership of a project was granted, changed (role, approver right) or removed. Every
/// host learns of it (each follows the user-management outbox), so cached authorization answers
/// everywhere are dropped within a poll interval rather than when they expire.
/// </summary>
public sealed record ProjectMembershipChanged(Guid EventId, DateTimeOffset OccurredAt, Guid ProjectId, Guid UserId) : MlPlatform.SharedKernel.Messaging.IIntegrationEvent;

/// <summary>
/// A number that moves whenever this host learns that some project membership changed. A module
/// that remembers authorization outcomes of its own (to spare a hot path the authorizer's work)
/// keeps the number it saw with each and drops those taken at an older one.
/// </summary>
public interface IAccessRevision
{
    long Current { get; }
}
