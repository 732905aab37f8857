using System.Diagnostics.Metrics;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// The engine's metrics (meter <c>MlPlatform.Workflows</c>): runs by final state, step duration by
/// type, ready-to-started delay, and active runs (counted in the database by the sweep, so every
/// host reports the cluster's figure).
/// </summary>
// Durations are in seconds: Prometheus' base unit (promtool rejects *_milliseconds names).
public static class WorkflowMetrics
{
    public const string MeterName = "MlPlatform.Workflows";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> RunsFinished = Meter.CreateCounter<long>("workflows.runs.finished", "{run}", "Runs that reached a final state, by state.");

    private static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("workflows.step.duration", "s", "How long an attempt ran, by step type and outcome.");

    private static readonly Histogram<double> StartDelay = Meter.CreateHistogram<double>("workflows.step.start_delay", "s", "From when an attempt was due (ready, or its backoff ended) to when a host started it.");

    private static long _activeRuns;

    static WorkflowMetrics()
    {
        Meter.CreateObservableGauge("workflows.runs.active", () => Interlocked.Read(ref _activeRuns), "{run}", "Runs waiting, queued or running, over all hosts (refreshed by the sweep).");
    }

    public static void RunFinished(string state) => RunsFinished.Add(1, new KeyValuePair<string, object?>("state", state));

    public static void StepFinished(string type, string outcome, TimeSpan duration) =>
        StepDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("type", type), new KeyValuePair<string, object?>("outcome", outcome));

    public static void StepStarted(TimeSpan delay) => StartDelay.Record(Math.Max(0, delay.TotalSeconds));

    public static void SetActiveRuns(long count) => Interlocked.Exchange(ref _activeRuns, count);
}
