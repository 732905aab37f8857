using System.Collections.Concurrent;
using System.Diagnostics;

namespace MlPlatform.Predictions.Runtime;

/// <summary>
/// Cumulative statistics of one variant on this host, in the shape of Triton's statistics
/// extension (what <c>GET /v2/models/{name}/stats</c> answers): requests that succeeded or failed
/// and their time, the time spent queued, preparing inputs, running and reading outputs, cache hits
/// and misses, and the model runs by batch size. Lock-free counters: a request adds a few
/// interlocked increments. They outlive a hot change that keeps the variant's model.
/// </summary>
public sealed class VariantStats
{
    /// <summary>Batch sizes come from requests; past this many distinct ones, new sizes count in the totals only.</summary>
    private const int MaxBatchSizes = 256;

    private readonly ConcurrentDictionary<long, BatchStats> _batches = new();
    private long _inferences;
    private long _executions;
    private long _lastInference;

    public Duration Success { get; } = new();

    public Duration Fail { get; } = new();

    public Duration Queue { get; } = new();

    public Duration ComputeInput { get; } = new();

    public Duration ComputeInfer { get; } = new();

    public Duration ComputeOutput { get; } = new();

    public Duration CacheHit { get; } = new();

    public Duration CacheMiss { get; } = new();

    /// <summary>Inferences by the model: a request each, or each row of a request to a micro-batching variant (Triton's batch dimension); cache hits count none.</summary>
    public long InferenceCount => Interlocked.Read(ref _inferences);

    /// <summary>Model runs: fewer than the requests when micro-batching stacks them.</summary>
    public long ExecutionCount => Interlocked.Read(ref _executions);

    /// <summary>When the last request arrived, in milliseconds since the Unix epoch; 0 before any.</summary>
    /// <remarks>Kept as the request's <see cref="Stopwatch"/> timestamp, which it takes anyway, and turned into wall-clock time only when read.</remarks>
    public long LastInference
    {
        get
        {
            var arrived = Volatile.Read(ref _lastInference);
            return arrived == 0 ? 0 : (DateTimeOffset.UtcNow - Stopwatch.GetElapsedTime(arrived)).ToUnixTimeMilliseconds();
        }
    }

    public IEnumerable<KeyValuePair<long, BatchStats>> Batches => _batches.OrderBy(b => b.Key);

    /// <param name="timestamp">The request's arrival, from <see cref="Stopwatch.GetTimestamp"/>.</param>
    internal void Arrived(long timestamp) => Volatile.Write(ref _lastInference, timestamp);

    /// <summary>
    /// One model run serving <paramref name="requests"/> requests, of batch size <paramref name="batchSize"/>
    /// as Triton counts it: the rows stacked by the micro-batcher, else 1 per request (a variant without
    /// it is configured with max_batch_size 0, and its requests' first dimension is theirs, not a batch).
    /// </summary>
    internal void Executed(long batchSize, int requests, RunTimings timings)
    {
        Interlocked.Increment(ref _executions);
        Interlocked.Add(ref _inferences, batchSize);

        // Each request of a batch waited for the whole run, as Triton counts it.
        ComputeInput.Add(requests, timings.Input * requests);
        ComputeInfer.Add(requests, timings.Infer * requests);
        ComputeOutput.Add(requests, timings.Output * requests);

        if (!_batches.TryGetValue(batchSize, out var batch))
        {
            if (_batches.Count >= MaxBatchSizes)
            {
                return;
            }

            batch = _batches.GetOrAdd(batchSize, static _ => new BatchStats());
        }

        batch.ComputeInput.Add(timings.Input);
        batch.ComputeInfer.Add(timings.Infer);
        batch.ComputeOutput.Add(timings.Output);
    }

    /// <summary>A count and the time it took in total, in <see cref="Stopwatch"/> ticks.</summary>
    public sealed class Duration
    {
        private long _count;
        private long _ticks;

        public long Count => Interlocked.Read(ref _count);

        public long Nanoseconds => (long)(Interlocked.Read(ref _ticks) * (1e9 / Stopwatch.Frequency));

        internal void Add(long ticks) => Add(1, ticks);

        internal void Add(long count, long ticks)
        {
            Interlocked.Add(ref _count, count);
            Interlocked.Add(ref _ticks, ticks);
        }
    }

    /// <summary>The model runs of one batch size.</summary>
    public sealed class BatchStats
    {
        public Duration ComputeInput { get; } = new();

        public Duration ComputeInfer { get; } = new();

        public Duration ComputeOutput { get; } = new();
    }
}

/// <summary>Where one run's time went, in <see cref="Stopwatch"/> ticks: tensors in, ONNX Runtime's Run, tensors out.</summary>
public readonly record struct RunTimings(long Input, long Infer, long Output);
