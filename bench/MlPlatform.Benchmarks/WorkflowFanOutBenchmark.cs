using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace MlPlatform.Benchmarks;

/// <summary>
/// Issue 4's W2 and W3: one run of N independent <c>noop</c> steps (all ready at once). W2 is the
/// run's time end to end (created → finished, from the run's own times); W3 is the ready-to-started
/// delay of its attempts (an attempt's scheduled time → its start), p50 and p99, read from the run
/// detail afterwards so measuring costs the engine nothing while it runs.
/// </summary>
public static class WorkflowFanOutBenchmark
{
    private const string Project = "bench";
    private const string Workflow = "fanout";

    public static async Task RunAsync(string? postgres, int steps)
    {
        await using var host = await BenchHost.StartAsync(postgres, connections: 8);
        var client = host.Client;
        (await client.PostAsJsonAsync("/api/v1/projects", new { name = Project })).EnsureSuccessStatusCode();
        await RunPolling.WarmUpAsync(client, Project, "warm-up", Enumerable.Range(0, 2_000).Select(i => new { id = $"s{i}", type = "noop" }));
        var fan = Enumerable.Range(0, steps).Select(i => new { id = $"s{i}", type = "noop" });
        using (var submitted = await client.PostAsJsonAsync($"/api/v1/projects/{Project}/workflows", new { name = Workflow, steps = fan }))
        {
            if (!submitted.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"Submitting the fan-out answered {(int)submitted.StatusCode}: {await submitted.Content.ReadAsStringAsync()}");
            }
        }

        // The host's CPU time tells the engine's cost apart from a busy machine's wall-clock noise.
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var gcPause = GC.GetTotalPauseDuration();
        var gcs = GC.CollectionCount(0);
        var allocated = GC.GetTotalAllocatedBytes();
        var wall = Stopwatch.StartNew();
        Guid runId;
        using (var started = await client.PostAsJsonAsync($"/api/v1/projects/{Project}/workflows/{Workflow}/runs", new { parameters = new { } }))
        {
            started.EnsureSuccessStatusCode();
            runId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        }

        var accepted = wall.Elapsed;
        var run = await RunPolling.WaitForAsync(client, Project, Workflow, runId);
        cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu;
        gcPause = GC.GetTotalPauseDuration() - gcPause;
        gcs = GC.CollectionCount(0) - gcs;
        allocated = GC.GetTotalAllocatedBytes() - allocated;
        var createdAt = run.GetProperty("createdAt").GetDateTimeOffset();
        var finishedAt = run.GetProperty("finishedAt").GetDateTimeOffset();
        var delays = new List<double>(steps);
        // Where the time goes: attempts started and finished per quarter second after the run was created.
        var startedPerSlice = new SortedDictionary<int, int>();
        var finishedPerSlice = new SortedDictionary<int, int>();
        foreach (var step in run.GetProperty("steps").EnumerateArray())
        {
            foreach (var attempt in step.GetProperty("attempts").EnumerateArray())
            {
                var scheduled = attempt.GetProperty("scheduledFor").GetDateTimeOffset();
                var startedAt = attempt.GetProperty("startedAt").GetDateTimeOffset();
                delays.Add((startedAt - scheduled).TotalMilliseconds);
                var startedSlice = (int)((startedAt - createdAt).TotalMilliseconds / 250);
                startedPerSlice[startedSlice] = startedPerSlice.GetValueOrDefault(startedSlice) + 1;
                if (attempt.TryGetProperty("finishedAt", out var finished) && finished.ValueKind == JsonValueKind.String)
                {
                    var finishedSlice = (int)((finished.GetDateTimeOffset() - createdAt).TotalMilliseconds / 250);
                    finishedPerSlice[finishedSlice] = finishedPerSlice.GetValueOrDefault(finishedSlice) + 1;
                }
            }
        }

        var sorted = delays.Order().ToArray();
        var total = finishedAt - createdAt;
        Console.WriteLine($"fan-out of {steps} noop steps ({host.ProviderName}, {Environment.ProcessorCount} cores): created → finished {total.TotalSeconds:F2} s ({steps / total.TotalSeconds:F0} steps/s; target ≤ 15 s for 10,000), start request answered after {accepted.TotalSeconds:F2} s, observed by polling {wall.Elapsed.TotalSeconds:F2} s, host CPU {cpu.TotalSeconds:F2} s, {allocated / 1e6:F0} MB allocated, {gcs} GCs pausing {gcPause.TotalMilliseconds:F0} ms");
        Console.WriteLine("per 250 ms after creation, started: " + string.Join(' ', startedPerSlice.Select(p => $"{p.Key * 0.25:0.00}s:{p.Value}")));
        Console.WriteLine("per 250 ms after creation, finished: " + string.Join(' ', finishedPerSlice.Select(p => $"{p.Key * 0.25:0.00}s:{p.Value}")));
        Console.WriteLine($"ready → started ({sorted.Length} attempts): p50 {PacedLoad.Percentile(sorted, 0.50):F0} ms, p99 {PacedLoad.Percentile(sorted, 0.99):F0} ms, max {sorted[^1]:F0} ms (target p99 ≤ 1,000 ms)");
    }
}
