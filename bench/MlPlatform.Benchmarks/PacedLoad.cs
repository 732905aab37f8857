using System.Collections.Concurrent;
using System.Diagnostics;

namespace MlPlatform.Benchmarks;

/// <summary>
/// Open-loop load: operations start on a fixed schedule (operation i is due at i / rate seconds)
/// whether or not earlier ones have finished, and each latency is measured from the moment the
/// operation was due, not from when it was sent — so a slow answer shows up as queueing in the
/// latencies of the ones behind it instead of silently lowering the request rate (the closed-loop
/// blind spot known as coordinated omission).
/// </summary>
public static class PacedLoad
{
    /// <remarks>
    /// P50Us..MaxUs are measured from the due time; ServiceP50Us/ServiceP99Us from the moment the
    /// operation actually started, and SendLagP99Us is how late the sender itself started it (timer
    /// granularity, thread-pool queueing on a shared 2-core machine) — the part of the due-time
    /// latency that belongs to the load generator rather than to what is measured.
    /// </remarks>
    public sealed record Result(string Name, int Rate, long Operations, long Errors, double AchievedPerSecond, double P50Us, double P90Us, double P99Us, double MaxUs, double ServiceP50Us, double ServiceP99Us, double SendLagP99Us)
    {
        public override string ToString() =>
            $"{Name,-34} {Rate,5} op/s, {AchievedPerSecond,4:N0} done/s  from due: p50 {P50Us,7:N0} p90 {P90Us,7:N0} p99 {P99Us,7:N0} max {MaxUs,8:N0} µs | from send: p50 {ServiceP50Us,6:N0} p99 {ServiceP99Us,7:N0} µs | send lag p99 {SendLagP99Us,6:N0} µs | errors {Errors}";
    }

    public static async Task<Result> RunAsync(string name, Func<Task<bool>> operation, int rate, TimeSpan duration)
    {
        var total = (long)(rate * duration.TotalSeconds);
        var latencies = new ConcurrentBag<double>();
        var service = new ConcurrentBag<double>();
        var lag = new ConcurrentBag<double>();
        long errors = 0;
        var inFlight = new List<Task>((int)total);
        var stopwatch = Stopwatch.StartNew();
        long sent = 0;
        while (sent < total)
        {
            // Start everything due by now; the timer wakes us about every millisecond, so at
            // 500 op/s the schedule is kept to within one or two operations.
            var due = Math.Min(total, (long)(stopwatch.Elapsed.TotalSeconds * rate) + 1);
            for (; sent < due; sent++)
            {
                var dueAt = TimeSpan.FromSeconds((double)sent / rate);
                inFlight.Add(Task.Run(async () =>
                {
                    var startedAt = stopwatch.Elapsed;
                    lag.Add((startedAt - dueAt).TotalMicroseconds);
                    var ok = false;
                    try
                    {
                        ok = await operation();
                    }
                    catch (Exception ex) when (ex is HttpRequestException or System.Data.Common.DbException or InvalidOperationException)
                    {
                        ok = false;
                    }

                    var finishedAt = stopwatch.Elapsed;
                    latencies.Add((finishedAt - dueAt).TotalMicroseconds);
                    service.Add((finishedAt - startedAt).TotalMicroseconds);
                    if (!ok)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }));
            }

            await Task.Delay(1);
        }

        await Task.WhenAll(inFlight);
        var elapsed = stopwatch.Elapsed;
        var sorted = latencies.Order().ToArray();
        var sortedService = service.Order().ToArray();
        var sortedLag = lag.Order().ToArray();
        return new Result(name, rate, sorted.Length, errors, sorted.Length / elapsed.TotalSeconds,
            Percentile(sorted, 0.50), Percentile(sorted, 0.90), Percentile(sorted, 0.99), sorted[^1],
            Percentile(sortedService, 0.50), Percentile(sortedService, 0.99), Percentile(sortedLag, 0.99));
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
