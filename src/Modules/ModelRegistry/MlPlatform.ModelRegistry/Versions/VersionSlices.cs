using System.Security.Claims;
using System.Text.Json;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.ModelRegistry.Versions;

public sealed record ModelVersionDto(
    Guid Id,
    string Project,
    string Model,
    int Version,
    string Status,
    string? Description,
    string ArtifactUri,
    string Sha256,
    long SizeBytes,
    JsonElement Signature,
    JsonElement Metadata,
    JsonElement Metrics,
    JsonElement Params,
    JsonElement Lineage,
    DateTimeOffset CreatedAt,
    Guid? CreatedBy,
    DateTimeOffset? DecidedAt,
    Guid? DecidedBy,
    string? DecisionComment,
    JsonElement MetricSources,
    DateTimeOffset? ArchivedAt);

/// <summary>Who recorded a metric: the values sent with the version, or a later writer through <see cref="IModelVersionMetrics"/>.</summary>
public static class MetricSources
{
    public const string Upload = "upload";

    /// <summary>A member of the stored sources (not a metric) that each recording sets anew; never shown.</summary>
    public const string ChangeMarker = "$recorded";
}

internal static class VersionMapping
{
    public static ModelVersionDto ToDto(string project, RegisteredModel model, ModelVersion v) => ToDto(project, model.Name, v);

    public static ModelVersionDto ToDto(string project, string model, ModelVersion v) => new(
        v.Id, project, model, v.Version, v.Status, v.Description, v.ArtifactUri, v.Sha256, v.SizeBytes,
        Element(v.Signature), Element(v.Metadata), Element(v.Metrics), Element(v.Params), Element(v.Lineage),
        v.CreatedAt, v.CreatedBy, v.DecidedAt, v.DecidedBy, v.DecisionComment, Sources(v.MetricSources), v.ArchivedAt);

    /// <summary>The metric sources without the change marker that makes every recording change the concurrency token.</summary>
    private static JsonElement Sources(string json)
    {
        if (!json.Contains(MetricSources.ChangeMarker, StringComparison.Ordinal))
        {
            return Element(json);
        }

        var sources = System.Text.Json.Nodes.JsonNode.Parse(json)!.AsObject();
        sources.Remove(MetricSources.ChangeMarker);
        return Element(sources.ToJsonString());
    }

    private static JsonElement Element(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

/// <summary>
/// Registers the next version of a model from an uploaded ONNX file. The body is read only after
/// the caller's rights and the model are checked (<see cref="ReadBody"/>), so a Viewer's upload is
/// refused before it is received.
/// </summary>
public sealed record RegisterVersion(ClaimsPrincipal Caller, string Project, string Name, Func<long, CancellationToken, Task<ModelUpload>> ReadBody)
    : ICommand<ModelVersionDto>;

public sealed class RegisterVersionHandler(
    ModelRegistryDbContext db,
    IProjectAuthorizer authorizer,
    IObjectStore store,
    ModelRegistrySettings settings,
    VersionRegistrar registrar) : ICommandHandler<RegisterVersion, ModelVersionDto>
{
    public async ValueTask<ModelVersionDto> Handle(RegisterVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var found = await ModelLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken);
        await using var upload = await command.ReadBody(settings.MaxUploadBytes, cancellationToken);
        var metrics = ModelUpload.ParseMetrics(upload.Metrics);
        var parameters = ModelUpload.ParseParams(upload.Params);
        var lineage = ModelUpload.ParseLineage(upload.Lineage);
        if (upload.ArtifactKey is { } key)
        {
            ArtifactKeys.CheckAllowed(key, access.ProjectId, access.ProjectName, runId: null);
            await upload.FetchAsync(store, settings.MaxUploadBytes, cancellationToken);
            lineage = lineage with { SourceArtifact = key };
        }

        var version = await registrar.RegisterAsync(
            new NewVersion(access.ProjectId, access.ProjectName, found, upload, metrics, parameters, lineage, upload.Description, command.Caller.SubjectId(), MetricSources.Upload),
            cancellationToken);
        return VersionMapping.ToDto(access.ProjectName, found, version);
    }
}

public sealed record GetVersion(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<ModelVersionDto>;

/// <summary>A version by number; answered from <see cref="VersionLookupCache"/> after the project check when this host read it since its last change.</summary>
public sealed class GetVersionHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, VersionLookupCache cache) : IQueryHandler<GetVersion, ModelVersionDto>
{
    public async ValueTask<ModelVersionDto> Handle(GetVersion query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await cache.FindModelAsync(db, access.ProjectId, query.Name, cancellationToken);
        return await cache.GetOrLoadAsync(model, query.Version, async ct =>
            {
                var version = await db.ModelVersions.AsNoTracking().SingleOrDefaultAsync(v => v.ModelId == model.Id && v.Version == query.Version, ct)
                    ?? throw new NotFoundException("Model version", $"{model.Name}/{query.Version}");
                return VersionMapping.ToDto(access.ProjectName, model.Name, version);
            },
            cancellationToken);
    }
}

public sealed record ListVersions(ClaimsPrincipal Caller, string Project, string Name, string? Status, int Offset, int Limit, bool IncludeArchived = false) : IQuery<Page<ModelVersionDto>>, IPagedQuery;

public sealed class ListVersionsValidator : AbstractValidator<ListVersions>
{
    public ListVersionsValidator()
    {
        this.Paged();
        RuleFor(q => q.Status).Must(s => s is null or VersionStatus.Pending or VersionStatus.Approved or VersionStatus.Rejected)
            .WithMessage("The status filter must be pending, approved or rejected.");
    }
}

/// <summary>A model's versions, newest first; archived ones only when asked for.</summary>
public sealed class ListVersionsHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListVersions, Page<ModelVersionDto>>
{
    public async ValueTask<Page<ModelVersionDto>> Handle(ListVersions query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var versions = db.ModelVersions.AsNoTracking().Where(v => v.ModelId == model.Id);
        if (!query.IncludeArchived)
        {
            versions = versions.Where(v => v.ArchivedAt == null);
        }

        if (query.Status is not null)
        {
            versions = versions.Where(v => v.Status == query.Status);
        }

        var total = await versions.CountAsync(cancellationToken);
        var items = await versions.OrderByDescending(v => v.Version).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<ModelVersionDto>(items.Select(v => VersionMapping.ToDto(access.ProjectName, model, v)).ToList(), total, query.Offset, query.Limit);
    }
}

public sealed record ArtifactDownload(Stream Content, string FileName, string Sha256, long SizeBytes);

public sealed record DownloadVersion(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<ArtifactDownload>;

/// <summary>Opens a version's artifact for streaming (Read).</summary>
public sealed class DownloadVersionHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, IObjectStore store) : IQueryHandler<DownloadVersion, ArtifactDownload>
{
    public async ValueTask<ArtifactDownload> Handle(DownloadVersion query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var version = await ModelLookup.FindVersionAsync(db, model, query.Version, cancellationToken);
        try
        {
            var content = await store.OpenReadAsync(version.ArtifactKey, cancellationToken);
            return new ArtifactDownload(content, $"{model.Name}-v{version.Version}.onnx", version.Sha256, version.SizeBytes);
        }
        catch (ObjectNotFoundException)
        {
            throw new NotFoundException("Artifact", $"{model.Name}/{version.Version}");
        }
    }
}
