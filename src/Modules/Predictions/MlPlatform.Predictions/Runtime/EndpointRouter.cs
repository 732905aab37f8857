using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Persistence;
using MlPlatform.SharedKernel.Hosting;

namespace MlPlatform.Predictions.Runtime;

/// <summary>
/// The live routing tables by endpoint name. A table is built from the database, with every model
/// loaded and warmed, before it replaces the previous one in a single reference swap; models no
/// table uses any more are then unloaded, which frees their sessions once in-flight requests end.
/// </summary>
public sealed partial class EndpointRouter(
    IServiceScopeFactory scopes,
    ModelSessions sessions,
    PredictionsSettings settings,
    ILogger<EndpointRouter> logger) : IDisposable
{
    private readonly ConcurrentDictionary<string, EndpointRuntime> _tables = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, long> _missing = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _locks = new(StringComparer.Ordinal);

    public IReadOnlyCollection<EndpointRuntime> Tables => (IReadOnlyCollection<EndpointRuntime>)_tables.Values;

    /// <summary>The endpoint's table, built on first use; null when there is no such endpoint.</summary>
    public ValueTask<EndpointRuntime?> GetAsync(string name, CancellationToken cancellationToken)
    {
        if (_tables.TryGetValue(name, out var table))
        {
            return ValueTask.FromResult<EndpointRuntime?>(table);
        }

        // A name just looked up in vain is not queried again for a second (a scan for names is cheap to answer).
        if (_missing.TryGetValue(name, out var until) && Environment.TickCount64 < until)
        {
            return ValueTask.FromResult<EndpointRuntime?>(null);
        }

        return new ValueTask<EndpointRuntime?>(ReloadAsync(name, cancellationToken));
    }

    /// <summary>Rebuilds the endpoint's table from the database and swaps it in (or drops it when the endpoint is gone).</summary>
    public async Task<EndpointRuntime?> ReloadAsync(string name, CancellationToken cancellationToken)
    {
        // A name this host serves no table for is looked up before a lock is made for it, so
        // callers asking for names that do not exist leave nothing behind (but a bounded negative entry).
        if (!_tables.ContainsKey(name) && !_locks.ContainsKey(name))
        {
            bool exists;
            await using (var scope = scopes.CreateAsyncScope())
            {
                exists = await scope.ServiceProvider.GetRequiredService<PredictionsDbContext>().Endpoints.AnyAsync(e => e.Name == name, cancellationToken);
            }

            if (!exists)
            {
                RememberMissing(name);
                return null;
            }
        }

        var gate = _locks.GetOrAdd(name, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(cancellationToken);
        try
        {
            ServingEndpoint? endpoint;
            await using (var scope = scopes.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
                endpoint = await db.Endpoints.AsNoTracking().Include(e => e.Variants).SingleOrDefaultAsync(e => e.Name == name, cancellationToken);
            }

            _tables.TryGetValue(name, out var current);
            if (endpoint is null)
            {
                RememberMissing(name);
                if (current is not null && _tables.TryRemove(new KeyValuePair<string, EndpointRuntime>(name, current)))
                {
                    Retire(current);
                }

                return null;
            }

            _missing.TryRemove(name, out _);
            if (current is not null && current.Revision == endpoint.Revision)
            {
                return current;
            }

            var table = await BuildAsync(endpoint, current, cancellationToken);
            _tables[name] = table;
            if (current is not null)
            {
                Retire(current);
                LogSwapped(logger, name, current.Revision, table.Revision);
            }

            return table;
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>
    /// Another host (or this one) created, changed or deleted the endpoint: rebuild this host's table
    /// if it has one (a no-op when it already serves that revision), and forget that the name was missing.
    /// </summary>
    public async Task ChangedAsync(string name, CancellationToken cancellationToken)
    {
        _missing.TryRemove(name, out _);
        if (_tables.ContainsKey(name))
        {
            await ReloadAsync(name, cancellationToken);
        }
    }

    private void RememberMissing(string name)
    {
        if (_missing.Count >= 10_000)
        {
            _missing.Clear(); // Bounded: a scan of made-up names costs queries, not memory.
        }

        _missing[name] = Environment.TickCount64 + 1000;
    }

    /// <summary>Drops a table and unloads the models that no other table uses.</summary>
    private void Retire(EndpointRuntime old)
    {
        old.Stop();
        var used = _tables.Values.SelectMany(t => t.All).Select(v => v.File.Sha256).ToHashSet(StringComparer.Ordinal);
        foreach (var variant in old.All)
        {
            if (!used.Contains(variant.File.Sha256))
            {
                sessions.Unload(variant.File.Sha256);
            }
        }
    }

    private async Task<EndpointRuntime> BuildAsync(ServingEndpoint endpoint, EndpointRuntime? previous, CancellationToken cancellationToken)
    {
        var variants = new List<VariantRuntime>();
        VariantRuntime? shadow = null;
        foreach (var v in endpoint.Variants.OrderBy(v => v.Shadow).ThenBy(v => v.Name, StringComparer.Ordinal))
        {
            var file = new ModelFile(v.Sha256, v.ArtifactKey, v.SizeBytes);
            // Loaded and warmed here, before the table is visible: traffic moves only to a ready model.
            var loaded = await sessions.GetAsync(file, cancellationToken);
            // Statistics continue across a change that keeps the variant and its model (a weight change, a cache
            // setting); not into an endpoint deleted and created again under the same name.
            var kept = previous?.Id == endpoint.Id ? previous.All.FirstOrDefault(p => p.Name == v.Name && p.File.Sha256 == v.Sha256) : null;
            var stats = kept?.Stats ?? new VariantStats();
            var runtime = new VariantRuntime(v.Name, v.Model, v.Version, v.Weight, v.Shadow, file, loaded, sessions, stats);
            if (endpoint.BatchingEnabled && !v.Shadow && loaded.Signature.BatchFirst)
            {
                runtime.Batcher = new MicroBatcher(
                    runtime,
                    endpoint.Name,
                    Math.Max(1, endpoint.MaxBatchSize),
                    TimeSpan.FromTicks(endpoint.MaxBatchDelayMicroseconds * 10L),
                    endpoint.MaxQueue > 0 ? endpoint.MaxQueue : settings.DefaultMaxQueue);
            }

            if (v.Shadow)
            {
                shadow = runtime;
            }
            else
            {
                variants.Add(runtime);
            }
        }

        // The cache survives a change that keeps its settings: entries are keyed by model file, so none goes stale.
        var cache = endpoint.CacheEnabled
            ? previous?.Cache ?? new ResponseCache(endpoint.CacheMaxEntries > 0 ? endpoint.CacheMaxEntries : 10_000, 64L << 20)
            : null;
        return new EndpointRuntime(
            endpoint.Id,
            endpoint.ProjectId,
            endpoint.ProjectName,
            endpoint.Name,
            endpoint.Revision,
            variants,
            shadow,
            cache,
            endpoint.MaxConcurrency,
            endpoint.MaxQueue > 0 ? endpoint.MaxQueue : settings.DefaultMaxQueue,
            previous?.Id == endpoint.Id ? previous.ShadowStats : new ShadowStats());
    }

    /// <summary>Reloads the tables whose revision changed on another host (or here, behind our back), drops deleted ones.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (_tables.IsEmpty)
        {
            return;
        }

        Dictionary<string, long> revisions;
        await using (var scope = scopes.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
            var names = _tables.Keys.ToList();
            revisions = await db.Endpoints.AsNoTracking().Where(e => names.Contains(e.Name)).ToDictionaryAsync(e => e.Name, e => e.Revision, cancellationToken);
        }

        foreach (var (name, table) in _tables)
        {
            if (!revisions.TryGetValue(name, out var revision) || revision != table.Revision)
            {
                try
                {
                    await ReloadAsync(name, cancellationToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // The old table keeps serving; the next refresh tries again.
                    LogReloadFailed(logger, name, ex);
                }
            }
        }
    }

    public void Dispose()
    {
        PredictionMetrics.ForgetRouter(this);
        foreach (var table in _tables.Values)
        {
            table.Stop();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Endpoint {Endpoint} now serves revision {To} (was {From})")]
    private static partial void LogSwapped(ILogger logger, string endpoint, long from, long to);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reloading endpoint {Endpoint} failed; the previous table keeps serving")]
    private static partial void LogReloadFailed(ILogger logger, string endpoint, Exception exception);
}

/// <summary>Keeps this host's tables in step with the database and unloads idle models.</summary>
public sealed partial class EndpointRefresher(EndpointRouter router, ModelSessions sessions, PredictionsSettings settings, TimeProvider clock, ILogger<EndpointRefresher> logger) : PeriodicWork(clock)
{
    protected override TimeSpan Interval => settings.RefreshInterval;

    protected override async Task RunOnceAsync(CancellationToken cancellationToken)
    {
        await router.RefreshAsync(cancellationToken);
        sessions.UnloadIdle(new HashSet<string>());
    }

    protected override void OnFailed(Exception exception) => LogRefreshFailed(logger, exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refreshing the endpoint tables failed")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);
}
