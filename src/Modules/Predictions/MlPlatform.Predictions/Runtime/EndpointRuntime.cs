using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading.Channels;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Runtime;

/// <summary>A variant as the data plane serves it: an immutable description plus its current model.</summary>
public sealed class VariantRuntime
{
    private readonly ModelSessions _sessions;
    private LoadedModel _model;

    internal VariantRuntime(string name, string model, int version, int weight, bool shadow, ModelFile file, LoadedModel loaded, ModelSessions sessions, VariantStats stats)
    {
        Stats = stats;
        Name = name;
        Model = model;
        Version = version;
        Weight = weight;
        Shadow = shadow;
        File = file;
        _model = loaded;
        _sessions = sessions;
    }

    public string Name { get; }

    public string Model { get; }

    public int Version { get; }

    public int Weight { get; }

    public bool Shadow { get; }

    public ModelFile File { get; }

    public string VersionText => Version.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public ModelSignature Signature => _model.Signature;

    public IReadOnlyList<string>? FeatureNames => _model.FeatureNames;

    public MicroBatcher? Batcher { get; internal set; }

    /// <summary>Whether the variant's model is loaded now (it may have been unloaded for idleness or the memory budget since).</summary>
    public bool IsLoaded => _sessions.IsLoaded(File.Sha256);

    /// <summary>This host's statistics of the variant, kept across hot changes that keep its name and model file.</summary>
    public VariantStats Stats { get; }

    public long RequestCount => Stats.Success.Count + Stats.Fail.Count;

    public long ErrorCount => Stats.Fail.Count;

    /// <summary>
    /// A reference on the variant's session for one run; the caller releases it. Reloads the model
    /// when it was unloaded for idleness or the memory budget since.
    /// </summary>
    public async ValueTask<LoadedModel> AcquireAsync(CancellationToken cancellationToken)
    {
        var model = Volatile.Read(ref _model);
        if (model.TryAcquire())
        {
            return model;
        }

        while (true)
        {
            model = await _sessions.GetAsync(File, cancellationToken);
            if (model.TryAcquire())
            {
                Volatile.Write(ref _model, model);
                return model;
            }
        }
    }
}

/// <summary>Shadow results of one endpoint: how many copies ran, failed or were skipped, their time and output differences.</summary>
public sealed class ShadowStats
{
    private readonly Lock _lock = new();

    public long Runs { get; private set; }

    public long Failures { get; private set; }

    public long Skipped { get; private set; }

    public double TotalMilliseconds { get; private set; }

    public double MaxDifference { get; private set; }

    public double SumDifference { get; private set; }

    internal void Record(double milliseconds, double difference)
    {
        lock (_lock)
        {
            Runs++;
            TotalMilliseconds += milliseconds;
            MaxDifference = Math.Max(MaxDifference, difference);
            SumDifference += difference;
        }
    }

    internal void Fail()
    {
        lock (_lock)
        {
            Failures++;
        }
    }

    internal void Skip()
    {
        lock (_lock)
        {
            Skipped++;
        }
    }
}

/// <summary>
/// The routing table of one endpoint at one revision. Immutable apart from counters: a change builds
/// a new one (models loaded and warmed first) and swaps it in atomically.
/// </summary>
public sealed class EndpointRuntime
{
    private readonly int _maxConcurrency;
    private readonly int _maxQueue;
    private readonly SemaphoreSlim? _slots;
    private int _inFlight;

    internal EndpointRuntime(Guid id, Guid projectId, string projectName, string name, long revision, IReadOnlyList<VariantRuntime> variants, VariantRuntime? shadow, ResponseCache? cache, int maxConcurrency, int maxQueue, ShadowStats shadowStats)
    {
        Id = id;
        ProjectId = projectId;
        ProjectName = projectName;
        Name = name;
        Revision = revision;
        Variants = variants;
        Shadow = shadow;
        Cache = cache;
        _maxConcurrency = maxConcurrency;
        _maxQueue = maxQueue;
        _slots = maxConcurrency > 0 ? new SemaphoreSlim(maxConcurrency, maxConcurrency) : null;
        ShadowStats = shadowStats;
    }

    public Guid Id { get; }

    public Guid ProjectId { get; }

    public string ProjectName { get; }

    public string Name { get; }

    public long Revision { get; }

    public IReadOnlyList<VariantRuntime> Variants { get; }

    public VariantRuntime? Shadow { get; }

    public ResponseCache? Cache { get; }

    public ShadowStats ShadowStats { get; }

    public IEnumerable<VariantRuntime> All => Shadow is null ? Variants : Variants.Append(Shadow);

    /// <summary>The variant that describes the endpoint when no version is named: the one with the most traffic (first by name on a tie).</summary>
    public VariantRuntime Primary => Variants.MaxBy(v => v.Weight)!;

    /// <summary>
    /// The variant for a request: the one named explicitly (a variant name or a version number),
    /// else by the request key (sticky: the same key always lands on the same variant while the
    /// weights stay), else at random by weight.
    /// </summary>
    public VariantRuntime Select(string? explicitVariant, string? requestKey)
    {
        if (!string.IsNullOrEmpty(explicitVariant))
        {
            foreach (var v in All)
            {
                if (v.Name == explicitVariant)
                {
                    return v;
                }
            }

            foreach (var v in Variants)
            {
                if (v.VersionText == explicitVariant)
                {
                    return v;
                }
            }

            throw new NotFoundException("Variant", $"{Name}/{explicitVariant}");
        }

        if (Variants.Count == 1)
        {
            return Variants[0];
        }

        var point = string.IsNullOrEmpty(requestKey) ? Random.Shared.Next(100) : (int)(StableHash(requestKey) % 100);
        var cumulative = 0;
        foreach (var v in Variants)
        {
            cumulative += v.Weight;
            if (point < cumulative)
            {
                return v;
            }
        }

        return Variants[^1];
    }

    /// <summary>FNV-1a: stable across processes and hosts, unlike string.GetHashCode.</summary>
    internal static uint StableHash(string key)
    {
        var hash = 2166136261u;
        foreach (var c in key)
        {
            hash = (hash ^ c) * 16777619u;
        }

        // Mix the low bits, which the modulo reads.
        hash ^= hash >> 15;
        hash *= 0x2c1b3c6du;
        hash ^= hash >> 12;
        return hash;
    }

    /// <summary>Enters the endpoint's bounded queue; throws 429 at once when it is full. Dispose to leave.</summary>
    public async ValueTask<Slot> EnterAsync(CancellationToken cancellationToken)
    {
        if (_slots is null)
        {
            return default;
        }

        if (Interlocked.Increment(ref _inFlight) > _maxConcurrency + _maxQueue)
        {
            Interlocked.Decrement(ref _inFlight);
            PredictionMetrics.Rejected.Add(1, PredictionMetrics.Tag("endpoint", Name));
            throw new TooManyRequestsException(TimeSpan.FromSeconds(1), $"Endpoint '{Name}' has {_maxQueue} requests waiting already; try again shortly.");
        }

        try
        {
            await _slots.WaitAsync(cancellationToken);
        }
        catch
        {
            Interlocked.Decrement(ref _inFlight);
            throw;
        }

        return new Slot(this);
    }

    private void Leave()
    {
        _slots!.Release();
        Interlocked.Decrement(ref _inFlight);
    }

    public readonly struct Slot(EndpointRuntime? owner) : IDisposable
    {
        public void Dispose() => owner?.Leave();
    }

    internal void Stop()
    {
        foreach (var v in All)
        {
            v.Batcher?.Complete();
        }
    }
}

/// <summary>
/// An endpoint's response cache: outputs by (model file, inputs), bounded by entries and bytes.
/// Eviction is approximate (a sample is dropped when full), cheaper than an exact LRU on every hit.
/// </summary>
public sealed class ResponseCache(int maxEntries, long maxBytes)
{
    private readonly ConcurrentDictionary<CacheKey, TensorData[]> _entries = new();
    private long _bytes;

    public int Count => _entries.Count;

    public static CacheKey KeyOf(string sha256, IReadOnlyList<TensorData> inputs)
    {
        using var buffer = new MemoryStream();
        buffer.Write(Encoding.ASCII.GetBytes(sha256));
        foreach (var input in inputs.OrderBy(i => i.Name, StringComparer.Ordinal))
        {
            buffer.Write(Encoding.UTF8.GetBytes(input.Name));
            buffer.WriteByte(0);
            buffer.Write(Encoding.ASCII.GetBytes(input.Datatype));
            foreach (var d in input.Shape)
            {
                buffer.Write(BitConverter.GetBytes(d));
            }

            if (input.Data is string[] s)
            {
                foreach (var x in s)
                {
                    buffer.Write(Encoding.UTF8.GetBytes(x));
                    buffer.WriteByte(0);
                }
            }
            else
            {
                buffer.Write(TensorValues.AsBytes(input.Data));
            }
        }

        return new CacheKey(buffer.ToArray());
    }

    public bool TryGet(CacheKey key, out TensorData[] outputs) => _entries.TryGetValue(key, out outputs!);

    public void Add(CacheKey key, TensorData[] outputs)
    {
        var size = key.Bytes.Length + outputs.Sum(o => TensorValues.ByteSize(o.Data));
        if (size > maxBytes / 4)
        {
            return; // One answer may not take a quarter of the cache.
        }

        while (_entries.Count >= maxEntries || Interlocked.Read(ref _bytes) + size > maxBytes)
        {
            var victim = _entries.Keys.FirstOrDefault();
            if (victim is null || !_entries.TryRemove(victim, out var removed))
            {
                break;
            }

            Interlocked.Add(ref _bytes, -(victim.Bytes.Length + removed.Sum(o => TensorValues.ByteSize(o.Data))));
        }

        if (_entries.TryAdd(key, outputs))
        {
            Interlocked.Add(ref _bytes, size);
        }
    }
}

/// <summary>Bytes compared by content, hashed once.</summary>
public sealed class CacheKey(byte[] bytes) : IEquatable<CacheKey>
{
    private readonly int _hash = ComputeHash(bytes);

    public byte[] Bytes { get; } = bytes;

    private static int ComputeHash(byte[] bytes)
    {
        var hash = new HashCode();
        hash.AddBytes(bytes);
        return hash.ToHashCode();
    }

    public bool Equals(CacheKey? other) => other is not null && other._hash == _hash && other.Bytes.AsSpan().SequenceEqual(Bytes);

    public override bool Equals(object? obj) => Equals(obj as CacheKey);

    public override int GetHashCode() => _hash;
}

/// <summary>
/// Dynamic micro-batching for one variant: requests wait at most the maximum delay (or until the
/// batch is full), are stacked along the first dimension, run once, and split again. The queue is
/// bounded: a request that finds it full gets 429 at once instead of waiting to time out.
/// </summary>
public sealed class MicroBatcher
{
    private readonly Channel<Pending> _channel = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly VariantRuntime _variant;
    private readonly string _endpoint;
    private readonly int _maxRows;
    private readonly TimeSpan _maxDelay;
    private readonly int _maxQueue;
    private int _queued;

    internal MicroBatcher(VariantRuntime variant, string endpoint, int maxRows, TimeSpan maxDelay, int maxQueue)
    {
        _variant = variant;
        _endpoint = endpoint;
        _maxRows = maxRows;
        _maxDelay = maxDelay;
        _maxQueue = maxQueue;
        _ = Task.Run(RunAsync);
    }

    // Queued: when the request began to wait (queue time); Enqueued: when it joined this batcher (the batch's delay).
    private sealed record Pending(LoadedModel Model, IReadOnlyList<TensorData> Inputs, long Rows, long Queued, long Enqueued, TaskCompletionSource<TensorData[]> Result);

    /// <summary>The caller holds a reference on <paramref name="model"/> until the task ends, so a swap cannot unload it meanwhile.</summary>
    /// <param name="queued">When the request began to wait (before the endpoint's concurrency slot), so its queue time includes that wait.</param>
    public Task<TensorData[]> EnqueueAsync(LoadedModel model, IReadOnlyList<TensorData> inputs, long queued)
    {
        if (Interlocked.Increment(ref _queued) > _maxQueue)
        {
            Interlocked.Decrement(ref _queued);
            PredictionMetrics.Rejected.Add(1, PredictionMetrics.Tag("endpoint", _endpoint));
            throw new TooManyRequestsException(TimeSpan.FromSeconds(1), $"Endpoint '{_endpoint}' has {_maxQueue} requests queued already; try again shortly.");
        }

        var pending = new Pending(model, inputs, inputs[0].Rows, queued, System.Diagnostics.Stopwatch.GetTimestamp(), new TaskCompletionSource<TensorData[]>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_channel.Writer.TryWrite(pending))
        {
            // The table this request picked was replaced a moment ago and its queue has stopped:
            // run alone on the model it holds rather than fail a request during a hot change.
            Interlocked.Decrement(ref _queued);
            var alone = InferenceRunner.Run(model, inputs, null, out var timings);
            _variant.Stats.Executed(inputs[0].Rows, 1, timings);
            return Task.FromResult(alone);
        }

        return pending.Result.Task;
    }

    /// <summary>The most rows one run stacks.</summary>
    public int MaxRows => _maxRows;

    /// <summary>The longest a request waits for others to join its batch.</summary>
    public TimeSpan MaxDelay => _maxDelay;

    internal void Complete() => _channel.Writer.TryComplete();

    private async Task RunAsync()
    {
        var reader = _channel.Reader;
        var batch = new List<Pending>();
        while (await reader.WaitToReadAsync())
        {
            batch.Clear();
            long rows = 0;
            if (!reader.TryRead(out var first))
            {
                continue;
            }

            batch.Add(first);
            rows += first.Rows;
            var deadline = first.Enqueued + (long)(_maxDelay.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
            while (rows < _maxRows)
            {
                if (reader.TryRead(out var next))
                {
                    batch.Add(next);
                    rows += next.Rows;
                    continue;
                }

                var remaining = deadline - System.Diagnostics.Stopwatch.GetTimestamp();
                if (remaining <= 0)
                {
                    break;
                }

                var wait = TimeSpan.FromSeconds((double)remaining / System.Diagnostics.Stopwatch.Frequency);
                using var timeout = new CancellationTokenSource(wait);
                try
                {
                    if (!await reader.WaitToReadAsync(timeout.Token))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }

            Interlocked.Add(ref _queued, -batch.Count);
            await RunBatchAsync(batch, rows);
        }
    }

    private Task RunBatchAsync(List<Pending> batch, long rows)
    {
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        foreach (var p in batch)
        {
            _variant.Stats.Queue.Add(start - p.Queued);
            PredictionMetrics.QueueTime.Record(
                System.Diagnostics.Stopwatch.GetElapsedTime(p.Queued, start).TotalSeconds,
                PredictionMetrics.Tag("endpoint", _endpoint), PredictionMetrics.Tag("variant", _variant.Name));
        }

        try
        {
            // Every request in the batch holds a reference on the same model file; the first one's serves.
            var model = batch[0].Model;
            {
                var inputs = batch.Count == 1
                    ? batch[0].Inputs
                    : batch[0].Inputs.Select(i => TensorBinding.Concat(i.Name, batch.Select(p => p.Inputs.First(x => x.Name == i.Name)).ToList())).ToList();
                var outputs = InferenceRunner.Run(model, inputs, null, out var timings);
                _variant.Stats.Executed(rows, batch.Count, timings);
                PredictionMetrics.ComputeTime.Record(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalSeconds, PredictionMetrics.Tag("endpoint", _endpoint), PredictionMetrics.Tag("variant", _variant.Name));
                PredictionMetrics.BatchSize.Record(rows, PredictionMetrics.Tag("endpoint", _endpoint), PredictionMetrics.Tag("variant", _variant.Name));
                long offset = 0;
                foreach (var p in batch)
                {
                    if (batch.Count == 1)
                    {
                        p.Result.TrySetResult(outputs);
                        break;
                    }

                    var part = outputs.Select(o => o.Shape.Length > 0 && o.Shape[0] == rows ? TensorBinding.Slice(o, offset, p.Rows) : o).ToArray();
                    offset += p.Rows;
                    p.Result.TrySetResult(part);
                }
            }
        }
        catch (Exception ex)
        {
            foreach (var p in batch)
            {
                p.Result.TrySetException(ex);
            }
        }

        return Task.CompletedTask;
    }
}
