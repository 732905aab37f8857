using System.Security.Claims;
using System.Text.Json;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>An endpoint variant serving the version, as the serving module reports it.</summary>
public sealed record ServingEndpointDto(Guid EndpointId, string Endpoint, string Variant, bool Shadow);

/// <summary>What a version came from (as recorded at registration) and what builds on it: child versions, aliases, endpoints serving it.</summary>
public sealed record VersionLineageDto(
    string Model,
    int Version,
    JsonElement Upstream,
    IReadOnlyList<string> Datasets,
    IReadOnlyList<int> ChildVersions,
    IReadOnlyList<string> Aliases,
    IReadOnlyList<ServingEndpointDto> Endpoints);

public sealed record GetVersionLineage(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<VersionLineageDto>;

/// <summary>
/// Upstream: run, step, code version, datasets, parent version and source artifact recorded at
/// registration. Downstream: versions derived from it, aliases pointing at it, and the endpoints
/// serving it, asked of every <see cref="IModelVersionServing"/> registered (none when no serving
/// module runs in this host).
/// </summary>
public sealed class GetVersionLineageHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, IEnumerable<IModelVersionServing> serving)
    : IQueryHandler<GetVersionLineage, VersionLineageDto>
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
        var datasets = await db.VersionDatasets.AsNoTracking().Where(d => d.VersionId == version.Id)
            .OrderBy(d => d.Dataset).Select(d => d.Dataset).ToListAsync(cancellationToken);
        var endpoints = new List<ServingEndpointDto>();
        foreach (var source in serving)
        {
            endpoints.AddRange((await source.FindServingAsync(access.ProjectId, model.Id, version.Version, cancellationToken))
                .Select(e => new ServingEndpointDto(e.EndpointId, e.Endpoint, e.Variant, e.Shadow)));
        }

        using var upstream = JsonDocument.Parse(version.Lineage);
        return new VersionLineageDto(model.Name, version.Version, upstream.RootElement.Clone(), datasets, children, aliases,
            endpoints.OrderBy(e => e.Endpoint, StringComparer.Ordinal).ThenBy(e => e.Variant, StringComparer.Ordinal).ToList());
    }
}

public sealed record GetVersionByAlias(ClaimsPrincipal Caller, string Project, string Name, string Alias) : IQuery<ModelVersionDto>;

/// <summary>
/// The version an alias points to, in full: how a client finds "the champion" in one call. The
/// project check runs on every call; the alias and version are answered from
/// <see cref="VersionLookupCache"/> when this host has read them since the last change.
/// </summary>
public sealed class GetVersionByAliasHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, VersionLookupCache cache) : IQueryHandler<GetVersionByAlias, ModelVersionDto>
{
    public async ValueTask<ModelVersionDto> Handle(GetVersionByAlias query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await cache.FindModelAsync(db, access.ProjectId, query.Name, cancellationToken);
        return await cache.GetOrLoadAsync(model, query.Alias, async ct =>
            {
                // One query: the alias and the version row it points to.
                var version = await (
                        from a in db.Aliases.AsNoTracking()
                        join v in db.ModelVersions.AsNoTracking() on new { a.ModelId, a.Version } equals new { v.ModelId, v.Version }
                        where a.ModelId == model.Id && a.Alias == query.Alias
                        select v)
                    .SingleOrDefaultAsync(ct)
                    ?? throw new NotFoundException("Alias", $"{model.Name}@{query.Alias}");
                return VersionMapping.ToDto(access.ProjectName, model.Name, version);
            },
            cancellationToken);
    }
}
