using System.Security.Claims;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.ModelRegistry.Versions;

public sealed record ArchiveVersion(ClaimsPrincipal Caller, string Project, string Name, int Version) : ICommand<ModelVersionDto>;

/// <summary>
/// Archives a version (Write): it stays readable by number, with its artifact and lineage, but takes
/// no alias and is left out of default listings. Refused (409) while an alias points at it or an
/// endpoint serves it (asked of every <see cref="IModelVersionServing"/> in the host), and when it
/// is archived already.
/// </summary>
/// <remarks>
/// Archive against a deployment starting to serve the version. The two commit in different
/// databases (SQLite: different files), so no transaction spans them. Steps:
/// archive A1 reads the version row (row version r), A2 asks who serves it, A3 saves
/// "archived, r+1" only WHERE the row version is still r (else back to A1);
/// deploy D1 resolves the version (refused if archived), D2 commits the endpoint, D3 claims the
/// version (<see cref="ModelVersionServingClaim"/>: row version +1 only WHERE not archived) and,
/// when the claim fails, takes D2 back and answers 409.
/// - D3 before A1: D2 &lt; D3 &lt; A1 &lt; A2, so A2 sees the endpoint: the archive is refused.
/// - D3 between A1 and A3: A3's WHERE misses, A1 runs again after D3, so A2 sees the endpoint: refused.
/// - D3 after A3 (or waiting on A3's row lock, PostgreSQL): D3 finds the row archived and D takes
///   its endpoint back: the deploy is refused.
/// So both never succeed. Nor do both fail: the archive fails only on seeing the endpoint, and
/// then nothing is archived and D3 succeeds; the loser's 409 is the only cost. What remains: until
/// a refused deploy has taken D2 back (milliseconds) its endpoint is visible to readers, and a host
/// dying between D2 and D3 leaves that endpoint unclaimed (no reconciliation job yet).
/// </remarks>
public sealed class ArchiveVersionHandler(
    ModelRegistryDbContext db,
    IProjectAuthorizer authorizer,
    IEnumerable<IModelVersionServing> serving,
    TimeProvider clock,
    VersionLookupCache cache) : ICommandHandler<ArchiveVersion, ModelVersionDto>
{
    private const int MaxAttempts = 10;

    public async ValueTask<ModelVersionDto> Handle(ArchiveVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            var version = await ModelLookup.FindVersionAsync(db, model, command.Version, cancellationToken, tracked: true);
            await CheckArchivableAsync(model, version, access.ProjectId, cancellationToken);
            version.ArchivedAt = ModelLookup.Now(clock);
            version.ArchivedBy = command.Caller.SubjectId();
            // The row version is the lock shared with alias moves (AliasMover) and serving claims:
            // a move onto this version, or a deployment's claim, committed since the read above
            // makes this save fail, and the next attempt finds its alias or endpoint (409) — never
            // both an archive and an alias or endpoint on the archived version.
            version.RowVersion++;
            db.AddIntegrationEvent(new VersionLookupChanged(Guid.CreateVersion7(), ModelLookup.Now(clock), model.Id, version.Version), clock);
            // Moved onto, decided on or given metrics since it was read: judge again on the new state.
            if (await VersionSave.TrySaveAsync(db, attempt, MaxAttempts, $"Version {version.Version} of '{model.Name}' is being changed by others at this moment; try again.", cancellationToken))
            {
                cache.Invalidate(model.Id);
                return VersionMapping.ToDto(access.ProjectName, model, version);
            }
        }
    }

    private async Task CheckArchivableAsync(RegisteredModel model, ModelVersion version, Guid projectId, CancellationToken cancellationToken)
    {
        if (version.ArchivedAt is not null)
        {
            throw new ConflictException($"Version {version.Version} of '{model.Name}' is archived already.");
        }

        var aliases = await db.Aliases.AsNoTracking().Where(a => a.ModelId == model.Id && a.Version == version.Version)
            .OrderBy(a => a.Alias).Select(a => a.Alias).ToListAsync(cancellationToken);
        if (aliases.Count > 0)
        {
            throw new ConflictException($"Version {version.Version} of '{model.Name}' still has the aliases {string.Join(", ", aliases)}; move or delete them first.");
        }

        foreach (var source in serving)
        {
            var endpoints = await source.FindServingAsync(projectId, model.Id, version.Version, cancellationToken);
            if (endpoints.Count > 0)
            {
                throw new ConflictException(
                    $"Version {version.Version} of '{model.Name}' is served by {string.Join(", ", endpoints.Select(e => $"{e.Endpoint}/{e.Variant}"))}; take it off those endpoints first.");
            }
        }
    }
}

/// <summary>
/// A deployment's claim on a version, made after the deployment committed (see
/// <see cref="ArchiveVersionHandler"/> for the interleavings): one conditional UPDATE of the row
/// version, the lock archiving saves under. On PostgreSQL an archive holding the row makes this wait
/// and then re-check the WHERE on the archived row (0 rows); on SQLite writers take turns.
/// </summary>
internal sealed class ModelVersionServingClaim(ModelRegistryDbContext db) : IModelVersionServingClaim
{
    public async Task<bool> ClaimAsync(Guid projectId, Guid modelId, int version, CancellationToken cancellationToken = default)
    {
        var claimed = await db.ModelVersions
            .Where(v => v.ModelId == modelId && v.Version == version && v.ArchivedAt == null
                && db.Models.Any(m => m.Id == modelId && m.ProjectId == projectId))
            .ExecuteUpdateAsync(s => s.SetProperty(v => v.RowVersion, v => v.RowVersion + 1), cancellationToken);
        return claimed == 1;
    }
}
