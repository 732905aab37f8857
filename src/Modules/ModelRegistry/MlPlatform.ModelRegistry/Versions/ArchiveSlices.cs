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
            // The row version is the lock shared with alias moves (AliasMover): a move onto this
            // version committed since the read above makes this save fail, and the next attempt
            // finds its alias (409) — never both an archive and an alias on the archived version.
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
