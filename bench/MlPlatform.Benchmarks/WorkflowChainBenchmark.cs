using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;

namespace MlPlatform.Benchmarks;

/// <summary>
/// Issue 4's W1: a chain of N <c>noop</c> steps (each depends on the one before) submitted as a
/// workflow and run once; the engine's time per step is the run's duration over N. In the same run,
/// the cost of one raw transaction (INSERT + UPDATE + COMMIT) on the same database, which is the
/// least a durable engine must pay per step; the ratio says how far above that floor the engine is.
/// </summary>
public static class WorkflowChainBenchmark
{
    private const string Project = "bench";
    private const string Workflow = "chain";
    private const int RawTransactions = 500;

    public static async Task RunAsync(string? postgres, int steps)
    {
        await using var host = await BenchHost.StartAsync(postgres, connections: 8);
        var client = host.Client;
        (await client.PostAsJsonAsync("/api/v1/projects", new { name = Project })).EnsureSuccessStatusCode();

        // Raw first and last: the figure is the median of both halves, so neither the cold start nor
        // whatever the run leaves behind (WAL growth, autovacuum) decides it alone.
        var before = await RawTransactionsAsync(host, "before");
        await RunPolling.WarmUpAsync(client, Project, "warm-up", Chain(200));
        var chain = Chain(steps);
        using (var submitted = await client.PostAsJsonAsync($"/api/v1/projects/{Project}/workflows", new { name = Workflow, steps = chain }))
        {
            if (!submitted.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"Submitting the chain answered {(int)submitted.StatusCode}: {await submitted.Content.ReadAsStringAsync()}");
            }
        }

        var wall = Stopwatch.StartNew();
        Guid runId;
        using (var started = await client.PostAsJsonAsync($"/api/v1/projects/{Project}/workflows/{Workflow}/runs", new { parameters = new { } }))
        {
            started.EnsureSuccessStatusCode();
            runId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        }

        var run = await RunPolling.WaitForAsync(client, Project, Workflow, runId);

        var observed = wall.Elapsed;
        var after = await RawTransactionsAsync(host, "after");
        var startedAt = run.GetProperty("startedAt").GetDateTimeOffset();
        var finishedAt = run.GetProperty("finishedAt").GetDateTimeOffset();
        var createdAt = run.GetProperty("createdAt").GetDateTimeOffset();
        var duration = finishedAt - startedAt;
        var perStep = duration.TotalMilliseconds / steps;

        var all = before.Concat(after).Order().ToArray();
        var rawMedian = PacedLoad.Percentile(all, 0.50) / 1000;
        Console.WriteLine($"chain of {steps} noop steps ({host.ProviderName}): run started → finished {duration.TotalSeconds:F2} s, created → finished {(finishedAt - createdAt).TotalSeconds:F2} s, observed by polling {observed.TotalSeconds:F2} s");
        Console.WriteLine($"engine time per step: {perStep:F2} ms (target ≤ 10 ms)");
        Console.WriteLine($"raw transaction (INSERT + UPDATE + COMMIT, pooled connection, sequential, {all.Length}): median {rawMedian:F3} ms, p99 {PacedLoad.Percentile(all, 0.99) / 1000:F3} ms; medians before {PacedLoad.Percentile(before, 0.5) / 1000:F3} ms, after {PacedLoad.Percentile(after, 0.5) / 1000:F3} ms");
        Console.WriteLine($"ratio: engine per step / raw transaction = {perStep / rawMedian:F1}, {Environment.ProcessorCount} cores");
    }

    private static IEnumerable<object> Chain(int steps) => Enumerable.Range(0, steps).Select(i => i == 0
        ? (object)new { id = "s0", type = "noop" }
        : new { id = $"s{i}", type = "noop", dependsOn = new[] { $"s{i - 1}" } });

    private static async Task<double[]> RawTransactionsAsync(BenchHost host, string label)
    {
        // A table of the benchmark's own in the engine's database (its SQLite file, or the run's
        // PostgreSQL database), shaped like an attempt row: a key, a state and a time.
        var table = host.PostgresConnection is null ? "bench_raw_tx" : "public.bench_raw_tx";
        await using (var connection = await host.OpenAsync("workflow_engine"))
        await using (var create = connection.CreateCommand())
        {
            create.CommandText = $"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at TEXT NOT NULL)";
            await create.ExecuteNonQueryAsync();
        }

        var latencies = new double[RawTransactions];
        for (var i = 0; i < RawTransactions; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await using (var connection = await host.OpenAsync("workflow_engine"))
            await using (var transaction = await connection.BeginTransactionAsync())
            {
                var id = Guid.NewGuid().ToString();
                await using (var insert = connection.CreateCommand())
                {
                    insert.Transaction = transaction;
                    insert.CommandText = $"INSERT INTO {table} (id, state, updated_at) VALUES (@id, 'ready', @now)";
                    AddParameter(insert, "@id", id);
                    AddParameter(insert, "@now", DateTimeOffset.UtcNow.ToString("O"));
                    await insert.ExecuteNonQueryAsync();
                }

                await using (var update = connection.CreateCommand())
                {
                    update.Transaction = transaction;
                    update.CommandText = $"UPDATE {table} SET state = 'succeeded', updated_at = @now WHERE id = @id";
                    AddParameter(update, "@id", id);
                    AddParameter(update, "@now", DateTimeOffset.UtcNow.ToString("O"));
                    await update.ExecuteNonQueryAsync();
                }

                await transaction.CommitAsync();
            }

            latencies[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
        }

        Array.Sort(latencies);
        Console.WriteLine($"raw transaction ({label}): median {PacedLoad.Percentile(latencies, 0.5):N0} µs, p99 {PacedLoad.Percentile(latencies, 0.99):N0} µs");
        return latencies;
    }

    private static void AddParameter(System.Data.Common.DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
