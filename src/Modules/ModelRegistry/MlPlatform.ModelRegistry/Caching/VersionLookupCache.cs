using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.ModelRegistry.Caching;

/// <summary>A model as the read path needs it: names never change and models are never deleted.</summary>
public sealed record ModelKey(Guid Id, string Name);

/// <summary>
/// Version reads (by number and by alias) answered from memory. Each model has a generation that
/// every write to it on this host, and every registry event delivered to this host, moves on; an
/// entry is used only while its model is still at the generation read before the database was
/// asked, so a read that raced a write is never kept. Entries also expire after
/// <see cref="ModelRegistrySettings.LookupCacheTtl"/>, which bounds what another host's write can
/// leave stale here (events are delivered to one host of a cluster, not to all). Bounded in size.
/// Authorization is not cached here: callers check the project first, every time.
/// </summary>
public sealed class VersionLookupCache : IDisposable
{
    private readonly MemoryCache _cache;
    private readonly ConcurrentDictionary<Guid, long> _generations = new();
    private readonly TimeSpan _ttl;

    public VersionLookupCache(ModelRegistrySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _ttl = settings.LookupCacheTtl;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = settings.LookupCacheSize });
    }

    public bool Enabled => _ttl > TimeSpan.Zero;

    private sealed record Entry(long Generation, ModelVersionDto Version);

    public long Generation(Guid modelId) => _generations.GetValueOrDefault(modelId);

    /// <summary>Forgets everything read about the model on this host.</summary>
    public void Invalidate(Guid modelId) => _generations.AddOrUpdate(modelId, 1, (_, g) => g + 1);

    public async Task<ModelKey> FindModelAsync(ModelRegistryDbContext db, Guid projectId, string name, CancellationToken cancellationToken)
    {
        var key = (projectId, name);
        if (Enabled && _cache.TryGetValue(key, out ModelKey? cached) && cached is not null)
        {
            return cached;
        }

        var found = await db.Models.AsNoTracking().Where(m => m.ProjectId == projectId && m.Name == name)
            .Select(m => new ModelKey(m.Id, m.Name)).SingleOrDefaultAsync(cancellationToken)
            ?? throw new NotFoundException("Model", name);
        if (Enabled)
        {
            _cache.Set(key, found, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _ttl });
        }

        return found;
    }

    /// <summary>
    /// The cached version under <paramref name="key"/> (an alias name or a version number), or the one
    /// <paramref name="load"/> reads, kept only if no write to the model happened meanwhile.
    /// Misses (404) are not kept.
    /// </summary>
    public async Task<ModelVersionDto> GetOrLoadAsync(ModelKey model, object key, Func<CancellationToken, Task<ModelVersionDto>> load, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(load);
        if (!Enabled)
        {
            return await load(cancellationToken);
        }

        var cacheKey = (model.Id, key);
        var generation = Generation(model.Id);
        if (_cache.TryGetValue(cacheKey, out Entry? entry) && entry is not null && entry.Generation == generation)
        {
            return entry.Version;
        }

        var version = await load(cancellationToken);
        if (Generation(model.Id) == generation)
        {
            _cache.Set(cacheKey, new Entry(generation, version), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = _ttl });
        }

        return version;
    }

    public void Dispose() => _cache.Dispose();
}

/// <summary>
/// A change to a version that a cached read shows but no contract event announces (archiving,
/// recorded metrics). Module-internal: only the registry subscribes, and the hosts that are not
/// delivered it see it through <see cref="RegistryOutboxFollower"/>.
/// </summary>
public sealed record VersionLookupChanged(Guid EventId, DateTimeOffset OccurredAt, Guid ModelId, int Version) : IIntegrationEvent;

/// <summary>
/// The registry's own events, delivered to this host: another host moved an alias or decided on a
/// version, so what this host remembers of the model is forgotten before the delivery completes.
/// </summary>
public sealed class VersionLookupCacheInvalidation(VersionLookupCache cache) :
    IIntegrationEventHandler<AliasMoved>,
    IIntegrationEventHandler<ModelVersionApproved>,
    IIntegrationEventHandler<ModelVersionRejected>,
    IIntegrationEventHandler<VersionLookupChanged>
{
    public Task Handle(VersionLookupChanged integrationEvent, CancellationToken cancellationToken) => Forget(integrationEvent.ModelId);

    public Task Handle(AliasMoved integrationEvent, CancellationToken cancellationToken) => Forget(integrationEvent.ModelId);

    public Task Handle(ModelVersionApproved integrationEvent, CancellationToken cancellationToken) => Forget(integrationEvent.ModelId);

    public Task Handle(ModelVersionRejected integrationEvent, CancellationToken cancellationToken) => Forget(integrationEvent.ModelId);

    private Task Forget(Guid modelId)
    {
        cache.Invalidate(modelId);
        return Task.CompletedTask;
    }
}
