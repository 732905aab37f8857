using System.Security.Claims;
using System.Text.Json;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
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
    string? DecisionComment);

internal static class VersionMapping
{
    public static ModelVersionDto ToDto(string project, RegisteredModel model, ModelVersion v) => new(
        v.Id, project, model.Name, v.Version, v.Status, v.Description, v.ArtifactUri, v.Sha256, v.SizeBytes,
        Element(v.Signature), Element(v.Metadata), Element(v.Metrics), Element(v.Params), Element(v.Lineage),
        v.CreatedAt, v.CreatedBy, v.DecidedAt, v.DecidedBy, v.DecisionComment);

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
    TimeProvider clock,
    ILogger<RegisterVersionHandler> logger) : ICommandHandler<RegisterVersion, ModelVersionDto>
{
    /// <summary>Tries when a concurrent upload took the next version number.</summary>
    private const int MaxAttempts = 10;

    public async ValueTask<ModelVersionDto> Handle(RegisterVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var found = await ModelLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken);
        await using var upload = await command.ReadBody(settings.MaxUploadBytes, cancellationToken);
        var metrics = ModelUpload.ParseMetrics(upload.Metrics);
        var parameters = ModelUpload.ParseParams(upload.Params);
        var lineage = ModelUpload.ParseLineage(upload.Lineage);
        if (lineage.ParentVersion is { } parent && !await db.ModelVersions.AnyAsync(v => v.ModelId == found.Id && v.Version == parent, cancellationToken))
        {
            throw new BadRequestException($"lineage.parentVersion {parent} is not a version of '{found.Name}'.");
        }
        if (upload.Description is { Length: > 2000 })
        {
            throw new BadRequestException("The description is longer than 2000 characters.");
        }

        // Checked before storing: a file ONNX Runtime cannot load never reaches the store (422).
        var description = OnnxInspector.Inspect(upload.Path);

        // The key does not carry the version number: the number is only known once the row is in.
        var versionId = Guid.CreateVersion7();
        var key = $"models/{access.ProjectId:N}/{found.Id:N}/{versionId:N}/model.onnx";
        StoredObject stored;
        await using (var content = upload.OpenRead())
        {
            stored = await store.PutAsync(key, content, "application/octet-stream", cancellationToken);
        }

        try
        {
            return await InsertAsync(command, access, found.Id, versionId, stored, description, metrics.ToJsonString(), parameters.ToJsonString(), lineage, upload.Description, cancellationToken);
        }
        catch
        {
            // No version row, so no object: delete what was stored, whatever failed.
            try
            {
                await store.DeleteAsync(key, CancellationToken.None);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Could not delete the orphaned artifact {Key}", key);
            }

            throw;
        }
    }

    private async Task<ModelVersionDto> InsertAsync(
        RegisterVersion command, ProjectAccess access, Guid modelId, Guid versionId, StoredObject stored, OnnxDescription onnx,
        string metrics, string parameters, VersionLineage lineage, string? text, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            var model = await db.Models.SingleOrDefaultAsync(m => m.Id == modelId, cancellationToken)
                ?? throw new NotFoundException("Model", command.Name);
            var now = ModelLookup.Now(clock);
            model.LatestVersion++;
            model.UpdatedAt = now;
            var version = new ModelVersion
            {
                Id = versionId,
                ModelId = model.Id,
                Version = model.LatestVersion,
                Description = text,
                Status = VersionStatus.Pending,
                ArtifactKey = stored.Key,
                ArtifactUri = stored.Uri.ToString(),
                Sha256 = stored.Sha256,
                SizeBytes = stored.Size,
                Signature = onnx.Signature.ToJsonString(),
                Metadata = onnx.Metadata.ToJsonString(),
                Metrics = metrics,
                Params = parameters,
                Lineage = JsonSerializer.Serialize(lineage, JsonSerializerOptions.Web),
                WorkflowRunId = lineage.WorkflowRun,
                ParentVersion = lineage.ParentVersion,
                CreatedAt = now,
                CreatedBy = command.Caller.SubjectId(),
            };
            db.ModelVersions.Add(version);
            db.AddIntegrationEvent(
                new ModelVersionRegistered(Guid.CreateVersion7(), now, access.ProjectId, access.ProjectName, model.Id, model.Name, version.Version,
                    version.ArtifactUri, version.Sha256, version.SizeBytes, version.CreatedBy),
                clock);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return VersionMapping.ToDto(access.ProjectName, model, version);
            }
            catch (DbUpdateException) when (attempt < MaxAttempts)
            {
                // Another upload took this number (concurrency token on latest_version): take the next.
            }
            catch (DbUpdateException)
            {
                throw new ConflictException($"The model '{command.Name}' is receiving many versions at this moment; try again.");
            }
        }
    }
}

public sealed record GetVersion(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<ModelVersionDto>;

public sealed class GetVersionHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetVersion, ModelVersionDto>
{
    public async ValueTask<ModelVersionDto> Handle(GetVersion query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var version = await ModelLookup.FindVersionAsync(db, model, query.Version, cancellationToken);
        return VersionMapping.ToDto(access.ProjectName, model, version);
    }
}

public sealed record ListVersions(ClaimsPrincipal Caller, string Project, string Name, string? Status, int Offset, int Limit) : IQuery<Page<ModelVersionDto>>;

public sealed class ListVersionsValidator : AbstractValidator<ListVersions>
{
    public ListVersionsValidator()
    {
        RuleFor(q => q.Offset).GreaterThanOrEqualTo(0);
        RuleFor(q => q.Limit).InclusiveBetween(1, 200);
        RuleFor(q => q.Status).Must(s => s is null or VersionStatus.Pending or VersionStatus.Approved or VersionStatus.Rejected)
            .WithMessage("The status filter must be pending, approved or rejected.");
    }
}

/// <summary>A model's versions, newest first.</summary>
public sealed class ListVersionsHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListVersions, Page<ModelVersionDto>>
{
    public async ValueTask<Page<ModelVersionDto>> Handle(ListVersions query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var versions = db.ModelVersions.AsNoTracking().Where(v => v.ModelId == model.Id);
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
