using System.Diagnostics.Metrics;

namespace MlPlatform.Predictions.Runtime;

/// <summary>The serving meters (collected by the host like every "MlPlatform.*" meter, scraped at /metrics).</summary>
public static class PredictionMetrics
{
    public const string MeterName = "MlPlatform.Predictions";

    private static readonly Meter Meter = new(MeterName);

    public static readonly Counter<long> Requests = Meter.CreateCounter<long>("mlplatform.predictions.requests", description: "Inference requests by endpoint, variant and outcome");

    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("mlplatform.predictions.errors", description: "Inference requests that failed, by endpoint, variant and reason");

    public static readonly Histogram<double> QueueTime = Meter.CreateHistogram<double>("mlplatform.predictions.queue.duration", unit: "s", description: "Time a request waited for a batch or a compute slot");

    public static readonly Histogram<double> ComputeTime = Meter.CreateHistogram<double>("mlplatform.predictions.compute.duration", unit: "s", description: "ONNX Runtime Run time per request or batch");

    public static readonly Histogram<long> BatchSize = Meter.CreateHistogram<long>("mlplatform.predictions.batch.size", unit: "{row}", description: "Rows per micro-batch run");

    public static readonly Counter<long> CacheHits = Meter.CreateCounter<long>("mlplatform.predictions.cache.hits", description: "Responses served from an endpoint's response cache");

    public static readonly Counter<long> CacheMisses = Meter.CreateCounter<long>("mlplatform.predictions.cache.misses", description: "Response cache look-ups that ran the model");

    public static readonly Counter<long> Rejected = Meter.CreateCounter<long>("mlplatform.predictions.rejected", description: "Requests refused with 429 because the endpoint's queue was full");

    public static readonly Histogram<double> ShadowTime = Meter.CreateHistogram<double>("mlplatform.predictions.shadow.duration", unit: "s", description: "Shadow variant compute time");

    public static readonly Histogram<double> ShadowDifference = Meter.CreateHistogram<double>("mlplatform.predictions.shadow.difference", description: "Largest absolute difference between the shadow's and the served outputs");

    private static ModelSessions? _sessions;

    static PredictionMetrics()
    {
        Meter.CreateObservableGauge("mlplatform.predictions.models.loaded", () => _sessions?.LoadedCount ?? 0, unit: "{model}", description: "ONNX Runtime sessions loaded");
        Meter.CreateObservableGauge("mlplatform.predictions.models.bytes", () => _sessions?.LoadedBytes ?? 0, unit: "By", description: "Size of the loaded model files (the memory budget's measure)");
    }

    internal static void ObserveSessions(ModelSessions sessions) => _sessions = sessions;

    public static KeyValuePair<string, object?> Tag(string name, object? value) => new(name, value);
}
