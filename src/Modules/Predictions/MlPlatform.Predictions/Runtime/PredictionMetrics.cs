using System.Diagnostics.Metrics;

namespace MlPlatform.Predictions.Runtime;

/// <summary>The serving meters (collected by the host like every "MlPlatform.*" meter, scraped at /metrics).</summary>
public static class PredictionMetrics
{
    public const string MeterName = "MlPlatform.Predictions";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Seconds from 25 µs to 10 s: the exporters' default buckets are made for milliseconds and put every inference in the first one.</summary>
    private static readonly InstrumentAdvice<double> Seconds = new()
    {
        HistogramBucketBoundaries = [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    };

    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("mlplatform.predictions.requests", description: "Inference requests by endpoint, variant and outcome");

    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("mlplatform.predictions.errors", description: "Inference requests that failed, by endpoint, variant and reason");

    public static readonly Histogram<double> QueueTime = Meter.CreateHistogram<double>("mlplatform.predictions.queue.duration", unit: "s", description: "Time a request waited for a batch or a compute slot", tags: null, advice: Seconds);

    public static readonly Histogram<double> ComputeTime = Meter.CreateHistogram<double>("mlplatform.predictions.compute.duration", unit: "s", description: "ONNX Runtime Run time per request or batch", tags: null, advice: Seconds);

    public static readonly Histogram<long> BatchSize = Meter.CreateHistogram<long>("mlplatform.predictions.batch.size", unit: "{row}", description: "Rows per micro-batch run", tags: null, advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096] });

    public static readonly Counter<long> CacheHits = Meter.CreateCounter<long>("mlplatform.predictions.cache.hits", description: "Responses served from an endpoint's response cache");

    public static readonly Counter<long> CacheMisses = Meter.CreateCounter<long>("mlplatform.predictions.cache.misses", description: "Response cache look-ups that ran the model");

    public static readonly Counter<long> Rejected = Meter.CreateCounter<long>("mlplatform.predictions.rejected", description: "Requests refused with 429 because the endpoint's queue was full");

    public static readonly Histogram<double> ShadowTime = Meter.CreateHistogram<double>("mlplatform.predictions.shadow.duration", unit: "s", description: "Shadow variant compute time", tags: null, advice: Seconds);

    public static readonly Histogram<double> ShadowDifference = Meter.CreateHistogram<double>("mlplatform.predictions.shadow.difference", description: "Largest absolute difference between the shadow's and the served outputs", tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10] });

    private static ModelSessions? _sessions;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<EndpointRouter, byte> Routers = new();

    static PredictionMetrics()
    {
        Meter.CreateObservableGauge("mlplatform.predictions.models.loaded", () => _sessions?.LoadedCount ?? 0, unit: "{model}", description: "ONNX Runtime sessions loaded");
        Meter.CreateObservableGauge("mlplatform.predictions.models.bytes", () => _sessions?.LoadedBytes ?? 0, unit: "By", description: "Size of the loaded model files (the memory budget's measure)");
        Meter.CreateObservableGauge("mlplatform.predictions.variant.model.loaded", () => VariantModels(bytes: false), unit: "{model}", description: "1 while the model of an endpoint's variant is loaded, by endpoint, variant, model and version");
        Meter.CreateObservableGauge("mlplatform.predictions.variant.model.bytes", () => VariantModels(bytes: true), unit: "By", description: "Size of the loaded model file of an endpoint's variant (0 when unloaded)");
    }

    internal static void ObserveSessions(ModelSessions sessions) => _sessions = sessions;

    /// <summary>Every live router of the process (one per host; tests run several hosts in one process).</summary>
    internal static void ObserveRouter(EndpointRouter router) => Routers.TryAdd(router, 0);

    internal static void ForgetRouter(EndpointRouter router) => Routers.TryRemove(router, out _);

    /// <summary>Per endpoint and variant (and the model version it serves): 1 while its model is loaded, and that model's size.</summary>
    private static IEnumerable<Measurement<long>> VariantModels(bool bytes)
    {
        foreach (var table in Routers.Keys.SelectMany(r => r.Tables))
        {
            foreach (var v in table.All)
            {
                var loaded = v.IsLoaded;
                yield return new Measurement<long>(
                    bytes ? (loaded ? v.File.SizeBytes : 0) : (loaded ? 1 : 0),
                    Tag("endpoint", table.Name), Tag("variant", v.Name), Tag("model", v.Model), Tag("version", v.VersionText));
            }
        }
    }

    public static KeyValuePair<string, object?> Tag(string name, object? value) => new(name, value);
}
