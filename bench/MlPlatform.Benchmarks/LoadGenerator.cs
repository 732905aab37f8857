using System.Diagnostics;

namespace MlPlatform.Benchmarks;

/// <summary>Closed-loop load: each client sends its next request when the previous answer arrives.</summary>
public static class LoadGenerator
{
    public sealed record Result(string Name, long Requests, long Errors, TimeSpan Elapsed, double P50Us, double P99Us)
    {
        public double PerSecond => Requests / Elapsed.TotalSeconds;

        public override string ToString() =>
            $"{Name,-28} {PerSecond,10:N0} req/s   p50 {P50Us,8:N0} µs   p99 {P99Us,8:N0} µs   errors {Errors}";
    }

    public static async Task<Result> RunAsync(string name, HttpClient client, Func<HttpRequestMessage> request, int clients, TimeSpan duration)
    {
        var latencies = new List<double>[clients];
        long errors = 0;
        var stopwatch = Stopwatch.StartNew();
        var deadline = stopwatch.Elapsed + duration;
        var workers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var mine = latencies[i] = new List<double>(100_000);
            while (stopwatch.Elapsed < deadline)
            {
                var started = Stopwatch.GetTimestamp();
                using var message = request();
                using var response = await client.SendAsync(message);
                await response.Content.LoadIntoBufferAsync();
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        var elapsed = stopwatch.Elapsed;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return new Result(name, all.Length, errors, elapsed, Percentile(all, 0.50), Percentile(all, 0.99));
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
}
