using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>
/// Merges metrics into a version (newer values win) and remembers, per metric, who recorded it;
/// each recording is also written to the audit log with its source.
/// </summary>
internal sealed class ModelVersionMetrics(ModelRegistryDbContext db, VersionLookupCache cache, TimeProvider clock, IServiceProvider services) : IModelVersionMetrics
{
    public async Task<bool> RecordAsync(Guid projectId, string model, int version, IReadOnlyDictionary<string, double> metrics, string source, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        if (source.Length > 200)
        {
            throw new ArgumentException("The source is longer than 200 characters.", nameof(source));
        }

        foreach (var (name, value) in metrics)
        {
            if (name.Length is 0 or > 200 || name.StartsWith('$') || !double.IsFinite(value))
            {
                throw new ArgumentException($"The metric '{name}' needs a name of 1 to 200 characters, not starting with '$', and a finite value.", nameof(metrics));
            }
        }

        Guid? modelId = null;
        for (var attempt = 1; modelId is null; attempt++)
        {
            db.ChangeTracker.Clear();
            var row = await (
                    from m in db.Models
                    join v in db.ModelVersions on m.Id equals v.ModelId
                    where m.ProjectId == projectId && m.Name == model && v.Version == version
                    select v)
                .SingleOrDefaultAsync(cancellationToken);
            if (row is null)
            {
                return false;
            }

            var merged = JsonNode.Parse(row.Metrics) as JsonObject ?? [];
            var sources = JsonNode.Parse(row.MetricSources) as JsonObject ?? [];
            foreach (var (name, value) in metrics.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                merged[name] = value;
                sources[name] = source;
            }

            row.Metrics = merged.ToJsonString();
            // Always a new value, so a concurrent recording of the same names by the same source still
            // changes the token and one of the two merges again on top of the other.
            sources[MetricSources.ChangeMarker] = Guid.NewGuid().ToString("N");
            row.MetricSources = sources.ToJsonString();
            row.RowVersion++;
            db.AddIntegrationEvent(new VersionLookupChanged(Guid.CreateVersion7(), clock.GetUtcNow(), row.ModelId, row.Version), clock);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                modelId = row.ModelId;
            }
            catch (DbUpdateConcurrencyException) when (attempt < 10)
            {
                // Another recording (or a decision) changed the row since it was read: merge again on top of it.
            }
        }

        cache.Invalidate(modelId.Value);

        // The audit log belongs to UserManagement; a host split without it still records the metrics.
        if (services.GetService<IAuditLog>() is { } audit)
        {
            await audit.RecordAsync(
                new AuditEvent("model.version.metrics_recorded", AuditOutcomes.Success, $"model/{model}/{version}", projectId,
                    Details: JsonSerializer.Serialize(new { source, metrics = metrics.Keys.Order(StringComparer.Ordinal).ToList() })),
                cancellationToken);
        }

        return true;
    }
}

/// <summary>
/// Lineage look-ups for other modules. By run: the indexed <c>workflow_run_id</c> column; by
/// dataset: the indexed <c>version_datasets</c> rows — neither scans the lineage JSON.
/// </summary>
internal sealed class ModelLineageQuery(ModelRegistryDbContext db) : IModelLineageQuery
{
    public async Task<ModelVersionLineageRef?> GetAsync(Guid projectId, string model, int version, CancellationToken cancellationToken = default)
    {
        var found = await (
                from m in db.Models.AsNoTracking()
                join v in db.ModelVersions.AsNoTracking() on m.Id equals v.ModelId
                where m.ProjectId == projectId && m.Name == model && v.Version == version
                select new { m.Name, Version = v })
            .ToListAsync(cancellationToken);
        return (await ToRefs(found.Select(x => new Row(x.Name, x.Version)).ToList(), cancellationToken)).SingleOrDefault();
    }

    public async Task<IReadOnlyList<ModelVersionLineageRef>> FindByRunAsync(Guid projectId, string workflowRun, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(workflowRun);
        var found = await (
                from v in db.ModelVersions.AsNoTracking()
                join m in db.Models.AsNoTracking() on v.ModelId equals m.Id
                where v.WorkflowRunId == workflowRun && m.ProjectId == projectId
                select new { m.Name, Version = v })
            .ToListAsync(cancellationToken);
        return await ToRefs(found.Select(x => new Row(x.Name, x.Version)).ToList(), cancellationToken);
    }

    public async Task<IReadOnlyList<ModelVersionLineageRef>> FindByDatasetAsync(Guid projectId, string datasetVersion, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(datasetVersion);
        var found = await (
                from d in db.VersionDatasets.AsNoTracking()
                join v in db.ModelVersions.AsNoTracking() on d.VersionId equals v.Id
                join m in db.Models.AsNoTracking() on v.ModelId equals m.Id
                where d.Dataset == datasetVersion && m.ProjectId == projectId
                select new { m.Name, Version = v })
            .ToListAsync(cancellationToken);
        return await ToRefs(found.Select(x => new Row(x.Name, x.Version)).ToList(), cancellationToken);
    }

    private sealed record Row(string Model, ModelVersion Version);

    private async Task<IReadOnlyList<ModelVersionLineageRef>> ToRefs(List<Row> rows, CancellationToken cancellationToken)
    {
        var ids = rows.Select(r => r.Version.Id).ToList();
        var datasets = (await db.VersionDatasets.AsNoTracking().Where(d => ids.Contains(d.VersionId)).ToListAsync(cancellationToken))
            .ToLookup(d => d.VersionId, d => d.Dataset);
        return rows
            .OrderBy(r => r.Model, StringComparer.Ordinal).ThenBy(r => r.Version.Version)
            .Select(r => new ModelVersionLineageRef(r.Version.ModelId, r.Model, r.Version.Version, r.Version.Status, r.Version.WorkflowRunId, StepOf(r.Version.Lineage),
                datasets[r.Version.Id].Order(StringComparer.Ordinal).ToList()))
            .ToList();
    }

    private static string? StepOf(string lineage)
    {
        using var document = JsonDocument.Parse(lineage);
        return document.RootElement.TryGetProperty("step", out var step) && step.ValueKind == JsonValueKind.String ? step.GetString() : null;
    }
}
