using System.Security.Claims;
using System.Text.Json;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>What a version came from (as recorded at upload) and what, inside the registry, builds on it.</summary>
public sealed record VersionLineageDto(string Model, int Version, JsonElement Upstream, IReadOnlyList<int> ChildVersions, IReadOnlyList<string> Aliases);

public sealed record GetVersionLineage(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<VersionLineageDto>;

/// <summary>
/// Upstream: run, step, code version, datasets and parent version recorded with the upload.
/// Downstream within the registry: versions derived from it and aliases pointing at it (endpoints
/// serving it belong to the Predictions module and are not listed here yet).
/// </summary>
public sealed class GetVersionLineageHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetVersionLineage, VersionLineageDto>
{
    public async ValueTask<VersionLineageDto> Handle(GetVersionLineage query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var version = await ModelLookup.FindVersionAsync(db, model, query.Version, cancellationToken);
        var children = await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == model.Id && v.ParentVersion == version.Version)
            .OrderBy(v => v.Version).Select(v => v.Version).ToListAsync(cancellationToken);
        var aliases = await db.Aliases.AsNoTracking().Where(a => a.ModelId == model.Id && a.Version == version.Version)
            .OrderBy(a => a.Alias).Select(a => a.Alias).ToListAsync(cancellationToken);
        using var upstream = JsonDocument.Parse(version.Lineage);
        return new VersionLineageDto(model.Name, version.Version, upstream.RootElement.Clone(), children, aliases);
    }
}

public sealed record GetVersionByAlias(ClaimsPrincipal Caller, string Project, string Name, string Alias) : IQuery<ModelVersionDto>;

/// <summary>The version an alias points to, in full: how a client finds "the champion" in one call.</summary>
public sealed class GetVersionByAliasHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetVersionByAlias, ModelVersionDto>
{
    public async ValueTask<ModelVersionDto> Handle(GetVersionByAlias query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var version = await (
                from a in db.Aliases.AsNoTracking()
                join v in db.ModelVersions.AsNoTracking() on new { a.ModelId, a.Version } equals new { v.ModelId, v.Version }
                where a.ModelId == model.Id && a.Alias == query.Alias
                select v)
            .SingleOrDefaultAsync(cancellationToken)
            ?? throw new NotFoundException("Alias", $"{model.Name}@{query.Alias}");
        return VersionMapping.ToDto(access.ProjectName, model, version);
    }
}
