using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Endpoints;

/// <summary>
/// Creates and changes endpoints for a project the caller was already authorized in (the API) or
/// that a workflow run belongs to (the model.deploy step). Every variant is resolved in the registry
/// and its model loaded and warmed before anything is stored, so a stored endpoint always serves.
/// After the commit every newly pinned version is claimed in the registry
/// (<see cref="IModelVersionServingClaim"/>); a version archived meanwhile makes the writer take its
/// change back and answer 409, so an archive racing a deployment never leaves both standing (the
/// interleavings are reasoned through on the registry's ArchiveVersionHandler).
/// </summary>
public sealed class EndpointWriter(
    PredictionsDbContext db,
    IModelVersionResolver resolver,
    IModelVersionServingClaim claims,
    ModelSessions sessions,
    EndpointRouter router,
    PredictionsSettings settings,
    TimeProvider clock)
{
    public async Task<ServingEndpoint> CreateAsync(Guid projectId, string projectName, EndpointSpec spec, Guid? caller, CancellationToken cancellationToken)
    {
        var name = spec.Name!;
        if (await db.Endpoints.AnyAsync(e => e.Name == name, cancellationToken))
        {
            throw new ConflictException($"An endpoint named '{name}' exists already (endpoint names are unique across the server).");
        }

        var now = Now();
        var endpoint = new ServingEndpoint
        {
            Id = Guid.CreateVersion7(),
            ProjectId = projectId,
            ProjectName = projectName,
            Name = name,
            CreatedAt = now,
            Revision = 1,
        };
        var added = await ApplyAsync(endpoint, spec, now, caller, cancellationToken);
        db.Endpoints.Add(endpoint);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            if (!await ExistsElsewhereAsync(name, endpoint.Id))
            {
                throw;
            }

            throw new ConflictException($"An endpoint named '{name}' exists already (endpoint names are unique across the server).");
        }

        await ClaimOrTakeBackAsync(endpoint, added, before: null);
        await router.ReloadAsync(name, cancellationToken);
        return endpoint;
    }

    public async Task<ServingEndpoint> ReplaceAsync(ServingEndpoint endpoint, EndpointSpec spec, Guid? caller, CancellationToken cancellationToken)
    {
        var now = Now();
        var before = new EndpointSnapshot(db.Entry(endpoint).CurrentValues.Clone(), endpoint.Variants.Select(v => (v, v.Weight)).ToList());
        var added = await ApplyAsync(endpoint, spec, now, caller, cancellationToken);
        endpoint.Revision++;
        await SaveAsync(endpoint, cancellationToken, () => ClaimOrTakeBackAsync(endpoint, added, before));
        return endpoint;
    }

    public async Task<ServingEndpoint> SetWeightsAsync(ServingEndpoint endpoint, IReadOnlyDictionary<string, int> weights, Guid? caller, CancellationToken cancellationToken)
    {
        var live = endpoint.Variants.Where(v => !v.Shadow).ToList();
        foreach (var key in weights.Keys)
        {
            if (!live.Any(v => v.Name == key))
            {
                throw new BadRequestException($"The endpoint has no variant '{key}' (variants: {string.Join(", ", live.Select(v => v.Name))}).");
            }
        }

        foreach (var v in live)
        {
            v.Weight = weights.TryGetValue(v.Name, out var w) ? w : v.Weight;
        }

        CheckWeights(live.Select(v => (v.Name, v.Weight)).ToList());
        endpoint.Revision++;
        endpoint.UpdatedAt = Now();
        endpoint.UpdatedBy = caller;
        await SaveAsync(endpoint, cancellationToken);
        return endpoint;
    }

    public async Task DeleteAsync(ServingEndpoint endpoint, CancellationToken cancellationToken)
    {
        db.Endpoints.Remove(endpoint);
        await db.SaveChangesAsync(cancellationToken);
        await router.ReloadAsync(endpoint.Name, cancellationToken);
    }

    private async Task SaveAsync(ServingEndpoint endpoint, CancellationToken cancellationToken, Func<Task>? afterCommit = null)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new ConflictException($"Endpoint '{endpoint.Name}' was changed at the same time by someone else; read it again and retry.");
        }

        if (afterCommit is not null)
        {
            await afterCommit();
        }

        // Load and warm the new table here, so the caller's 200 means the change is serving on this host.
        await router.ReloadAsync(endpoint.Name, cancellationToken);
    }

    /// <summary>
    /// Claims the versions the change newly pins; when one was archived since it was resolved, puts
    /// the endpoint back as it was before the change (a created one is deleted) and answers 409.
    /// Runs after the commit whatever the request's cancellation: the commit is done, the claim
    /// must follow it.
    /// </summary>
    private async Task ClaimOrTakeBackAsync(ServingEndpoint endpoint, IReadOnlyList<EndpointVariant> added, EndpointSnapshot? before)
    {
        var refused = new List<(Guid ModelId, int Version)>();
        string? reason = null;
        foreach (var (modelId, model, version) in added.Select(v => (v.ModelId, v.Model, v.Version)).Distinct())
        {
            if (!await claims.ClaimAsync(endpoint.ProjectId, modelId, version, CancellationToken.None))
            {
                refused.Add((modelId, version));
                reason ??= $"version {version} of '{model}' was archived while the endpoint was being written and cannot be served";
            }
        }

        if (refused.Count == 0)
        {
            return;
        }

        try
        {
            if (before is null)
            {
                db.Endpoints.Remove(endpoint);
            }
            else
            {
                before.Restore(db, endpoint);
            }

            await db.SaveChangesAsync(CancellationToken.None);
        }
        catch (DbUpdateConcurrencyException)
        {
            // Someone changed the endpoint in the meantime: take off whatever still pins a refused version.
            await RemovePinsAsync(endpoint.Id, refused);
        }

        await router.ReloadAsync(endpoint.Name, CancellationToken.None);
        throw new ConflictException($"Endpoint '{endpoint.Name}': {reason}; the change was not made.");
    }

    private async Task RemovePinsAsync(Guid endpointId, List<(Guid ModelId, int Version)> refused)
    {
        for (var attempt = 1; attempt <= 10; attempt++)
        {
            db.ChangeTracker.Clear();
            var current = await db.Endpoints.Include(e => e.Variants).SingleOrDefaultAsync(e => e.Id == endpointId, CancellationToken.None);
            var pins = current?.Variants.Where(v => refused.Contains((v.ModelId, v.Version))).ToList() ?? [];
            if (current is null || pins.Count == 0)
            {
                return;
            }

            if (current.Variants.All(v => v.Shadow || pins.Contains(v)))
            {
                db.Endpoints.Remove(current);
            }
            else
            {
                foreach (var pin in pins)
                {
                    current.Variants.Remove(pin);
                    db.Variants.Remove(pin);
                }

                current.Revision++;
            }

            try
            {
                await db.SaveChangesAsync(CancellationToken.None);
                return;
            }
            catch (DbUpdateConcurrencyException)
            {
                // Changed again: look once more.
            }
        }
    }

    /// <summary>An endpoint's values and variants (with their weights) before a change, to put back.</summary>
    private sealed record EndpointSnapshot(PropertyValues Values, List<(EndpointVariant Variant, int Weight)> Variants)
    {
        public void Restore(PredictionsDbContext db, ServingEndpoint endpoint)
        {
            var committed = endpoint.Revision;
            db.Entry(endpoint).CurrentValues.SetValues(Values);
            // A new revision, so hosts that loaded the change reload; saved only over the change itself.
            endpoint.Revision = committed + 1;
            foreach (var variant in endpoint.Variants.Where(v => !Variants.Any(s => s.Variant == v)).ToList())
            {
                endpoint.Variants.Remove(variant);
                db.Variants.Remove(variant);
            }

            foreach (var (variant, weight) in Variants)
            {
                variant.Weight = weight;
                if (!endpoint.Variants.Contains(variant))
                {
                    endpoint.Variants.Add(variant);
                    db.Variants.Add(variant);
                }
            }
        }
    }

    /// <summary>Applies the spec to the endpoint; returns the variants it adds (new pins of a model version).</summary>
    private async Task<List<EndpointVariant>> ApplyAsync(ServingEndpoint endpoint, EndpointSpec spec, DateTimeOffset now, Guid? caller, CancellationToken cancellationToken)
    {
        endpoint.Description = spec.Description;
        endpoint.Production = spec.Production ?? false;
        endpoint.CacheEnabled = spec.Cache?.Enabled ?? false;
        endpoint.CacheMaxEntries = spec.Cache?.MaxEntries ?? 10_000;
        endpoint.BatchingEnabled = spec.Batching?.Enabled ?? false;
        endpoint.MaxBatchSize = spec.Batching?.MaxBatchSize ?? 32;
        endpoint.MaxBatchDelayMicroseconds = (int)Math.Round((spec.Batching?.MaxDelayMs ?? 2.0) * 1000);
        endpoint.MaxQueue = spec.MaxQueue ?? 0;
        endpoint.MaxConcurrency = spec.MaxConcurrency ?? 0;
        endpoint.UpdatedAt = now;
        endpoint.UpdatedBy = caller;

        var wanted = new List<(VariantSpec Spec, bool Shadow, int Index)>();
        var specs = spec.Variants ?? [];
        for (var i = 0; i < specs.Count; i++)
        {
            wanted.Add((specs[i], false, i));
        }

        if (spec.Shadow is not null)
        {
            wanted.Add((spec.Shadow, true, -1));
        }

        var next = new List<EndpointVariant>();
        foreach (var (v, shadow, index) in wanted)
        {
            var path = shadow ? "shadow" : $"variants[{index}]";
            var variantName = v.Name ?? (shadow ? "shadow" : v.Model!);
            var existing = endpoint.Variants.FirstOrDefault(x => x.Name == variantName && x.Shadow == shadow);
            var versionText = VersionText(v.Version);
            // An unchanged variant keeps its resolved version and alias revision (an alias is not re-read behind the follower's back).
            if (existing is not null && existing.Model == v.Model && existing.Alias == v.Alias && (v.Alias is not null || existing.Version.ToString(CultureInfo.InvariantCulture) == versionText))
            {
                existing.Weight = shadow ? 0 : v.Weight ?? 100;
                next.Add(existing);
                continue;
            }

            var resolved = await resolver.ResolveAsync(endpoint.ProjectId, v.Model!, v.Alias ?? versionText!, cancellationToken)
                ?? throw new BadRequestException($"{path}: model '{v.Model}' has no {(v.Alias is null ? "version " + versionText : "alias '" + v.Alias + "'")} in this project.");
            CheckServable(endpoint, resolved, path);
            var file = new ModelFile(resolved.Sha256, resolved.ArtifactKey, resolved.SizeBytes);
            // Loading is the check that the model can be served; it also warms the table that follows.
            await sessions.GetAsync(file, cancellationToken);
            next.Add(new EndpointVariant
            {
                Id = Guid.CreateVersion7(),
                EndpointId = endpoint.Id,
                Name = variantName,
                ModelId = resolved.ModelId,
                Model = resolved.Model,
                Alias = v.Alias,
                AliasRevision = 0,
                Version = resolved.Version,
                VersionStatus = resolved.Status,
                ArtifactKey = resolved.ArtifactKey,
                Sha256 = resolved.Sha256,
                SizeBytes = resolved.SizeBytes,
                Weight = shadow ? 0 : v.Weight ?? 100,
                Shadow = shadow,
            });
        }

        foreach (var gone in endpoint.Variants.Where(x => !next.Contains(x)).ToList())
        {
            endpoint.Variants.Remove(gone);
            db.Variants.Remove(gone);
        }

        var added = next.Where(x => !endpoint.Variants.Contains(x)).ToList();
        foreach (var variant in added)
        {
            endpoint.Variants.Add(variant);
            db.Variants.Add(variant);
        }

        CheckWeights(endpoint.Variants.Where(x => !x.Shadow).Select(x => (x.Name, x.Weight)).ToList());
        return added;
    }

    /// <summary>Rejected versions are never served; production endpoints take approved ones only (unless configured otherwise).</summary>
    public void CheckServable(ServingEndpoint endpoint, ResolvedModelVersion resolved, string path)
    {
        if (resolved.ArchivedAt is not null)
        {
            throw new ConflictException($"{path}: version {resolved.Version} of '{resolved.Model}' is archived and cannot be served.");
        }

        if (resolved.Status == "rejected")
        {
            throw new ConflictException($"{path}: version {resolved.Version} of '{resolved.Model}' was rejected and cannot be served.");
        }

        if (endpoint.Production && settings.ProductionRequiresApproved && resolved.Status != "approved")
        {
            throw new ConflictException($"{path}: version {resolved.Version} of '{resolved.Model}' is {resolved.Status}; production endpoints serve approved versions only.");
        }
    }

    public static void CheckWeights(IReadOnlyList<(string Name, int Weight)> variants)
    {
        var sum = variants.Sum(v => v.Weight);
        if (variants.Count > 0 && sum != 100)
        {
            throw new BadRequestException($"The weights must add up to 100; they add up to {sum} ({string.Join(", ", variants.Select(v => $"{v.Name}={v.Weight}"))}).");
        }
    }

    public static string? VersionText(JsonNode? version) => version?.GetValueKind() switch
    {
        JsonValueKind.Number => version.ToJsonString(),
        JsonValueKind.String => version.GetValue<string>(),
        _ => null,
    };

    private async Task<bool> ExistsElsewhereAsync(string name, Guid id)
    {
        db.ChangeTracker.Clear();
        return await db.Endpoints.AnyAsync(e => e.Name == name && e.Id != id);
    }

    private DateTimeOffset Now()
    {
        var now = clock.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
    }
}
