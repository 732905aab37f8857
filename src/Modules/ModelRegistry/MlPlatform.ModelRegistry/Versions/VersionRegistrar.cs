using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>What a new version is made of, once the caller is authorized and the file is spooled.</summary>
internal sealed record NewVersion(
    Guid ProjectId,
    string ProjectName,
    RegisteredModel Model,
    ModelUpload File,
    JsonObject Metrics,
    JsonObject Params,
    VersionLineage Lineage,
    string? Description,
    Guid? CreatedBy,
    string MetricSource);

/// <summary>
/// The one way a version comes into being, for uploads, for artifacts named by key and for the
/// model.register step: check, then store, then insert — and undo the store if the insert fails.
/// </summary>
public sealed class VersionRegistrar(ModelRegistryDbContext db, IObjectStore store, TimeProvider clock, ILogger<VersionRegistrar> logger)
{
    /// <summary>Tries when a concurrent upload took the next version number.</summary>
    private const int MaxAttempts = 10;

    internal async Task<ModelVersion> RegisterAsync(NewVersion request, CancellationToken cancellationToken)
    {
        var found = request.Model;
        if (request.Lineage.ParentVersion is { } parent && !await db.ModelVersions.AnyAsync(v => v.ModelId == found.Id && v.Version == parent, cancellationToken))
        {
            throw new BadRequestException($"lineage.parentVersion {parent} is not a version of '{found.Name}'.");
        }

        if (request.Description is { Length: > 2000 })
        {
            throw new BadRequestException("The description is longer than 2000 characters.");
        }

        // Checked before storing: a file ONNX Runtime cannot load never reaches the store (422).
        var description = OnnxInspector.Inspect(request.File.Path);

        // The key does not carry the version number: the number is only known once the row is in.
        // An artifact named by key is copied here too (ADR 9): the registry's copy cannot be
        // overwritten by a re-run step, so the recorded hash stays the hash of what is served.
        var versionId = Guid.CreateVersion7();
        var key = $"models/{request.ProjectId:N}/{found.Id:N}/{versionId:N}/model.onnx";
        StoredObject stored;
        await using (var content = request.File.OpenRead())
        {
            stored = await store.PutAsync(key, content, "application/octet-stream", cancellationToken);
        }

        try
        {
            return await InsertAsync(request, versionId, stored, description, cancellationToken);
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

    private async Task<ModelVersion> InsertAsync(NewVersion request, Guid versionId, StoredObject stored, OnnxDescription onnx, CancellationToken cancellationToken)
    {
        var sources = new JsonObject();
        foreach (var (metric, _) in request.Metrics)
        {
            sources[metric] = request.MetricSource;
        }

        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            var model = await db.Models.SingleOrDefaultAsync(m => m.Id == request.Model.Id, cancellationToken)
                ?? throw new NotFoundException("Model", request.Model.Name);
            var now = ModelLookup.Now(clock);
            model.LatestVersion++;
            model.UpdatedAt = now;
            var version = new ModelVersion
            {
                Id = versionId,
                ModelId = model.Id,
                Version = model.LatestVersion,
                Description = request.Description,
                Status = VersionStatus.Pending,
                ArtifactKey = stored.Key,
                ArtifactUri = stored.Uri.ToString(),
                Sha256 = stored.Sha256,
                SizeBytes = stored.Size,
                Signature = onnx.Signature.ToJsonString(),
                Metadata = onnx.Metadata.ToJsonString(),
                Metrics = request.Metrics.ToJsonString(),
                MetricSources = sources.ToJsonString(),
                Params = request.Params.ToJsonString(),
                Lineage = JsonSerializer.Serialize(request.Lineage, JsonSerializerOptions.Web),
                WorkflowRunId = request.Lineage.WorkflowRun,
                ParentVersion = request.Lineage.ParentVersion,
                CreatedAt = now,
                CreatedBy = request.CreatedBy,
            };
            db.ModelVersions.Add(version);
            db.VersionDatasets.AddRange(request.Lineage.Datasets.Distinct(StringComparer.Ordinal).Select(d => new VersionDataset { VersionId = versionId, Dataset = d }));
            db.AddIntegrationEvent(
                new ModelVersionRegistered(Guid.CreateVersion7(), now, request.ProjectId, request.ProjectName, model.Id, model.Name, version.Version,
                    version.ArtifactUri, version.Sha256, version.SizeBytes, version.CreatedBy,
                    Guid.TryParse(request.Lineage.WorkflowRun, out var causedBy) ? causedBy : null),
                clock);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return version;
            }
            catch (DbUpdateException) when (attempt < MaxAttempts)
            {
                // Another upload took this number (concurrency token on latest_version): take the next.
            }
            catch (DbUpdateException)
            {
                throw new ConflictException($"The model '{request.Model.Name}' is receiving many versions at this moment; try again.");
            }
        }
    }
}

/// <summary>Which object keys a caller may register a version from.</summary>
internal static class ArtifactKeys
{
    /// <summary>The project's readable areas of the store (<see cref="ProjectAreas"/>); anything else could be another project's file.</summary>
    public static void CheckAllowed(string key, Guid projectId, string? projectName, Guid? runId)
    {
        var areas = new ProjectAreas(projectId, projectName, runId);
        if (!areas.CanRead(key) || key.Contains("/../", StringComparison.Ordinal) || key.Contains("//", StringComparison.Ordinal))
        {
            throw new BadRequestException($"The artifact '{key}' is outside this project's area of the store: name a key under {string.Join(" or ", areas.Readable)}.");
        }
    }
}
