using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Triggers;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// The engine's metrics (meter <c>MlPlatform.Workflows</c>): runs by final state, step duration by
/// type, ready-to-started delay, active runs, and trigger rules refused by the loop guard.
/// <para>
/// <b>Active runs</b> are counted in the database when the gauge is read (a scrape), at most once
/// per <see cref="ActiveRunsProbe.MaxAge"/> (2 s), so every host reports the cluster's current
/// figure whichever host started or finished the runs. Before, the figure came from the run sweep,
/// which runs every 30 s on one host of a cluster only, so the other hosts reported a stale value.
/// </para>
/// </summary>
// Durations are in seconds: Prometheus' base unit (promtool rejects *_milliseconds names).
public static class WorkflowMetrics
{
    public const string MeterName = "MlPlatform.Workflows";

    private static readonly Meter Meter = new(MeterName);

    private static readonly Counter<long> RunsFinished = Meter.CreateCounter<long>("workflows.runs.finished", "{run}", "Runs that reached a final state, by state.");

    private static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("workflows.step.duration", "s", "How long an attempt ran, by step type and outcome.");

    private static readonly Histogram<double> StartDelay = Meter.CreateHistogram<double>("workflows.step.start_delay", "s", "From when an attempt was due (ready, or its backoff ended) to when a host started it.");

    private static readonly Counter<long> TriggersRefused = Meter.CreateCounter<long>("workflows.triggers.refused", "{event}", "Trigger rules that matched an event but started no run, by reason (loop, depth, rate).");

    /// <summary>One probe per database this process serves (a host; in tests, several hosts).</summary>
    private static readonly ConcurrentDictionary<string, ActiveRunsProbe> Probes = new(StringComparer.Ordinal);

    private static long _activeRuns;

    static WorkflowMetrics()
    {
        Meter.CreateObservableGauge("workflows.runs.active", ObserveActiveRuns, "{run}", "Runs waiting, queued or running, over all hosts (counted in the database when read, at most every 2 s).");
    }

    public static void RunFinished(string state) => RunsFinished.Add(1, new KeyValuePair<string, object?>("state", state));

    public static void StepFinished(string type, string outcome, TimeSpan duration) =>
        StepDuration.Record(duration.TotalSeconds, new KeyValuePair<string, object?>("type", type), new KeyValuePair<string, object?>("outcome", outcome));

    public static void StepStarted(TimeSpan delay) => StartDelay.Record(Math.Max(0, delay.TotalSeconds));

    public static void TriggerRefused(TriggerRefusal reason) =>
        TriggersRefused.Add(1, new KeyValuePair<string, object?>("reason", reason.ToString().ToLowerInvariant()));

    /// <summary>The sweep's count: what the gauge shows while no probe is registered (a host that has not started yet).</summary>
    public static void SetActiveRuns(long count) => Interlocked.Exchange(ref _activeRuns, count);

    internal static void Register(string database, ActiveRunsProbe probe) => Probes[database] = probe;

    internal static void Unregister(string database, ActiveRunsProbe probe) => Probes.TryRemove(new KeyValuePair<string, ActiveRunsProbe>(database, probe));

    private static long ObserveActiveRuns()
    {
        if (Probes.IsEmpty)
        {
            return Interlocked.Read(ref _activeRuns);
        }

        // Hosts of one process that share a database registered one probe under its name, so a run counts once.
        var total = 0L;
        foreach (var probe in Probes.Values)
        {
            total += probe.Current();
        }

        return total;
    }
}

/// <summary>
/// Counts the active runs (waiting, queued, running) of this host's database when the gauge is
/// read, at most once per <see cref="MaxAge"/>; concurrent readers get the last figure instead of
/// waiting, and a failed count keeps it. <c>Workflows:Metrics:ActiveRunsMaxAge</c> (default 2 s).
/// </summary>
public sealed class ActiveRunsProbe(IServiceScopeFactory scopes, IConfiguration configuration, TimeProvider clock, ILogger<ActiveRunsProbe> logger) : IHostedService
{
    public const string MaxAgeSetting = "Workflows:Metrics:ActiveRunsMaxAge";

    private readonly Lock _lock = new();
    private string? _database;
    private long _count;
    private DateTimeOffset _countedAt = DateTimeOffset.MinValue;
    private int _counting;

    public TimeSpan MaxAge { get; } = configuration.GetValue(MaxAgeSetting, TimeSpan.FromSeconds(2));

    /// <summary>The count, from the database when the last one is older than <see cref="MaxAge"/>.</summary>
    public long Current()
    {
        lock (_lock)
        {
            if (clock.GetUtcNow() - _countedAt < MaxAge)
            {
                return _count;
            }
        }

        // One count at a time: a gauge read during a count answers the previous figure.
        if (Interlocked.CompareExchange(ref _counting, 1, 0) != 0)
        {
            lock (_lock)
            {
                return _count;
            }
        }

        try
        {
            // Synchronous: the gauge callback is. The query is one COUNT with a short timeout.
            using var scope = scopes.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            db.Database.SetCommandTimeout(TimeSpan.FromSeconds(2));
            var count = db.Runs.AsNoTracking().LongCount(r => r.State == RunStates.Waiting || r.State == RunStates.Queued || r.State == RunStates.Running);
            lock (_lock)
            {
                _count = count;
                _countedAt = clock.GetUtcNow();
                return count;
            }
        }
#pragma warning disable CA1031 // A metric read must never fail the scrape; the last figure stays.
        catch (Exception ex)
#pragma warning restore CA1031
        {
#pragma warning disable CA1848 // Rare.
            logger.LogWarning(ex, "Could not count the active workflow runs for the metric");
#pragma warning restore CA1848
            lock (_lock)
            {
                _countedAt = clock.GetUtcNow();
                return _count;
            }
        }
        finally
        {
            Volatile.Write(ref _counting, 0);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        using var scope = scopes.CreateScope();
        _database = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>().Database.GetConnectionString() ?? Guid.NewGuid().ToString();
        WorkflowMetrics.Register(_database, this);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (_database is not null)
        {
            WorkflowMetrics.Unregister(_database, this);
        }

        return Task.CompletedTask;
    }
}
