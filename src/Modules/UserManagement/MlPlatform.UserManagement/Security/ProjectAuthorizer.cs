using System.Security.Claims;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// The project check every module calls. Non-members learn nothing (404, as for a project that
/// does not exist); members without the right get 403. Look-ups are remembered for a few seconds
/// and forgotten on this host as soon as a membership changes.
/// </summary>
public sealed class ProjectAuthorizer(IServiceScopeFactory scopes, UserManagementOptions options) : IProjectAuthorizer, IProjectDirectory, IAccessRevision, IDisposable
{
    private readonly TimeSpan _cacheFor = options.AuthorizationCacheFor;
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 50_000 });
    private long _revision;

    public long Current => Volatile.Read(ref _revision);

    public async ValueTask<ProjectAccess> AuthorizeAsync(ClaimsPrincipal principal, string project, Permission permission, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(principal);
        var subject = principal.SubjectId() ?? throw new ForbiddenException("The caller is not authenticated.");
        var projectRow = await FindProject(project, cancellationToken) ?? throw new NotFoundException("Project", project);

        ProjectAccess access;
        if (principal.IsAdmin())
        {
            access = new ProjectAccess(projectRow.Id, projectRow.Name, ProjectRole.Owner, IsApprover: true, IsAdmin: true);
        }
        else if (principal.IsServiceAccount())
        {
            if (principal.FindFirstValue(PlatformClaims.ServiceProject) != projectRow.Id.ToString()
                || !Enum.TryParse<ProjectRole>(principal.FindFirstValue(PlatformClaims.ServiceRole), out var serviceRole))
            {
                throw new NotFoundException("Project", project);
            }

            access = new ProjectAccess(projectRow.Id, projectRow.Name, serviceRole, IsApprover: false, IsAdmin: false);
        }
        else
        {
            var membership = await FindMembership(projectRow.Id, subject, cancellationToken) ?? throw new NotFoundException("Project", project);
            access = new ProjectAccess(projectRow.Id, projectRow.Name, membership.Role, membership.IsApprover, IsAdmin: false);
        }

        if (!Allows(access, permission))
        {
            throw new ForbiddenException($"Your role in project '{projectRow.Name}' ({access.Role}) does not allow this.");
        }

        return access;
    }

    public static bool Allows(ProjectAccess access, Permission permission) => permission switch
    {
        Permission.Read => true,
        Permission.Write => access.Role >= ProjectRole.Maintainer,
        Permission.Approve => access.IsApprover || access.IsAdmin,
        Permission.Manage => access.Role == ProjectRole.Owner,
        _ => false,
    };

    /// <summary>
    /// Called when a membership changes (here, or on another host: <see cref="MembershipFollower"/>)
    /// so this host, and the caches other modules keep by <see cref="Current"/>, do not wait for expiry.
    /// </summary>
    public void Forget(Guid projectId, Guid userId)
    {
        _cache.Remove((projectId, userId));
        Interlocked.Increment(ref _revision);
    }

    public void ForgetProject(string name)
    {
        _cache.Remove(name);
        Interlocked.Increment(ref _revision);
    }

    /// <summary>The id of the project with this name, or null when there is none (for the audit log).</summary>
    public async ValueTask<Guid?> FindProjectIdAsync(string name, CancellationToken cancellationToken) =>
        (await FindProject(name, cancellationToken))?.Id;

    public async ValueTask<string?> FindNameAsync(Guid projectId, CancellationToken cancellationToken = default)
    {
        // Project names do not change, so a found name may be kept as long as the cache holds it.
        if (_cache.TryGetValue(projectId, out string? cached))
        {
            return cached;
        }

        await using var scope = scopes.CreateAsyncScope();
        var name = await scope.ServiceProvider.GetRequiredService<UserManagementDbContext>().Projects.AsNoTracking()
            .Where(p => p.Id == projectId).Select(p => p.Name).SingleOrDefaultAsync(cancellationToken);
        if (name is not null)
        {
            _cache.Set(projectId, name, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = TimeSpan.FromMinutes(10) });
        }

        return name;
    }

    private async Task<ProjectRow?> FindProject(string name, CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue(name, out ProjectRow? cached))
        {
            return cached;
        }

        await using var scope = scopes.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<UserManagementDbContext>().Projects.AsNoTracking()
            .Where(p => p.Name == name).Select(p => new ProjectRow(p.Id, p.Name)).SingleOrDefaultAsync(cancellationToken);
        if (row is not null)
        {
            _cache.Set(name, row, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _cacheFor });
        }

        return row;
    }

    private async Task<MembershipRow?> FindMembership(Guid projectId, Guid userId, CancellationToken cancellationToken)
    {
        if (_cache.TryGetValue((projectId, userId), out MembershipRow? cached))
        {
            return cached;
        }

        // A change forgotten while this read was under way may have come after the row was read:
        // the answer is used, but kept only if no change reached this host meanwhile.
        var seen = Current;
        await using var scope = scopes.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<UserManagementDbContext>().Memberships.AsNoTracking()
            .Where(m => m.ProjectId == projectId && m.UserId == userId)
            .Select(m => new MembershipRow(m.Role, m.IsApprover))
            .SingleOrDefaultAsync(cancellationToken);
        if (Current == seen)
        {
            _cache.Set((projectId, userId), row, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _cacheFor });
        }

        return row;
    }

    public void Dispose() => _cache.Dispose();

    private sealed record ProjectRow(Guid Id, string Name);

    private sealed record MembershipRow(ProjectRole Role, bool IsApprover);
}
