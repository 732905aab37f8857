using System.Diagnostics;
using System.Net;
using MlPlatform.IntegrationTests.Infrastructure;
using Npgsql;
using Xunit.Abstractions;

namespace MlPlatform.IntegrationTests.Scheduling;

/// <summary>
/// Two host processes on one PostgreSQL database form one Quartz cluster. The probe module of
/// tests/MlPlatform.ClusterTestHost records every job execution in <c>probe_executions</c>.
/// </summary>
public sealed class ClusteredSchedulerTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private readonly List<ClusterNode> _nodes = [];
    private PostgresDatabase? _database;

    private PostgresDatabase Database => _database ?? throw new InvalidOperationException("Not initialised.");

    public async Task InitializeAsync() => _database = await PostgresDatabase.CreateAsync();

    public async Task DisposeAsync()
    {
        // Always: a node left running would keep the database and a port busy after the test.
        foreach (var node in _nodes)
        {
            output.WriteLine(node.Output());
            await node.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }

    [Fact]
    public async Task Given_two_hosts_on_one_database_When_recurring_job_fires_Then_each_firing_runs_once()
    {
        await StartNodesAsync();
        var bothRunning = DateTimeOffset.UtcNow;

        await Task.Delay(TimeSpan.FromSeconds(9));

        _nodes.ShouldAllBe(n => !n.HasExited, Logs());
        var ticks = await ReadExecutionsAsync("tick");
        var repeated = ticks
            .GroupBy(t => (t.TriggerKey, t.ScheduledFireTime))
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key.TriggerKey} @ {g.Key.ScheduledFireTime:O} ran on {string.Join(", ", g.Select(t => t.InstanceId))}")
            .ToList();
        repeated.ShouldBeEmpty("a firing ran more than once\n" + Logs());

        // Distinct fire times are not enough: a trigger both nodes hold fires on two cadences at once.
        var scheduled = ticks.Select(t => t.ScheduledFireTime!.Value).Order().ToList();
        var tooClose = scheduled.Zip(scheduled.Skip(1))
            .Where(p => p.Second - p.First < TimeSpan.FromMilliseconds(900))
            .Select(p => $"{p.First:O} then {p.Second:O}")
            .ToList();
        tooClose.ShouldBeEmpty("the 1 s trigger fired more often than once a second\n" + Logs());

        var sinceBothRunning = ticks.Where(t => t.StartedAt >= bothRunning).ToList();
        sinceBothRunning.Count.ShouldBeGreaterThanOrEqualTo(5, "the 1 s trigger should have fired at least 5 times in 9 s\n" + Logs());
        output.WriteLine($"{sinceBothRunning.Count} firings since both nodes ran, by node: " +
            string.Join(", ", sinceBothRunning.GroupBy(t => t.Pid).Select(g => $"pid {g.Key}: {g.Count()}")));
    }

    [Fact]
    public async Task Given_two_hosts_When_the_host_running_a_recoverable_job_is_killed_Then_the_other_host_runs_it_again()
    {
        const int jobSeconds = 8;
        await StartNodesAsync();
        using (var http = new HttpClient { BaseAddress = _nodes[0].BaseAddress })
        {
            using var response = await http.PostAsync($"/probe/slow?seconds={jobSeconds}", content: null);
            response.StatusCode.ShouldBe(HttpStatusCode.Accepted, Logs());
        }

        var first = await WaitForAsync("the slow job to start", TimeSpan.FromSeconds(15), async () =>
            (await ReadExecutionsAsync("slow")).FirstOrDefault());
        first.Recovering.ShouldBeFalse(Logs());
        var victim = _nodes.SingleOrDefault(n => n.ProcessId == first.Pid)
            ?? throw new InvalidOperationException($"The slow job ran in pid {first.Pid}, which is not a node.\n{Logs()}");
        var survivor = _nodes.Single(n => n != victim);

        victim.Kill();
        var sinceKill = Stopwatch.StartNew();

        var recovered = await WaitForAsync("the surviving node to recover the slow job", TimeSpan.FromSeconds(30), async () =>
            (await ReadExecutionsAsync("slow")).FirstOrDefault(e => e.Recovering));
        var recoveredAfter = sinceKill.Elapsed;
        recovered.Pid.ShouldBe(survivor.ProcessId, Logs());
        recovered.InstanceId.ShouldNotBe(first.InstanceId, Logs());

        var completed = await WaitForAsync("the recovered run to complete", TimeSpan.FromSeconds(jobSeconds + 10), async () =>
            (await ReadExecutionsAsync("slow")).FirstOrDefault(e => e.Id == recovered.Id && e.CompletedAt is not null));
        (completed.CompletedAt!.Value - completed.StartedAt).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromSeconds(jobSeconds - 0.5), Logs());

        var all = await ReadExecutionsAsync("slow");
        all.Single(e => e.Id == first.Id).CompletedAt.ShouldBeNull("the killed node never finished its run\n" + Logs());
        all.Count.ShouldBe(2, "one interrupted run and one recovered run\n" + Logs());
        survivor.HasExited.ShouldBeFalse(Logs());
        output.WriteLine($"Recovered by pid {recovered.Pid} {recoveredAfter.TotalSeconds:F1} s after the kill of pid {victim.ProcessId}.");
    }

    /// <summary>
    /// The first node creates the schema; the second starts once it is ready (both apply migrations
    /// on start, and two migrators racing on an empty database is not what these tests are about).
    /// </summary>
    private async Task StartNodesAsync()
    {
        foreach (var name in new[] { "node-a", "node-b" })
        {
            var node = ClusterNode.Start(name, Database.ConnectionString);
            _nodes.Add(node);
            await node.WaitUntilReadyAsync(StartTimeout);
        }
    }

    private string Logs() => string.Join("\n", _nodes.Select(n => n.Output()));

    private async Task<T> WaitForAsync<T>(string what, TimeSpan timeout, Func<Task<T?>> probe)
        where T : class
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (await probe() is { } found)
            {
                return found;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"Timed out after {timeout.TotalSeconds} s waiting for {what}.\n{Logs()}");
    }

    private async Task<List<Execution>> ReadExecutionsAsync(string job)
    {
        await using var connection = new NpgsqlConnection(Database.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT id, fire_instance_id, trigger_key, scheduled_fire_time_utc, instance_id, pid, recovering, started_at, completed_at
            FROM probe_executions WHERE job = $1 ORDER BY id
            """,
            connection);
        command.Parameters.AddWithValue(job);
        var executions = new List<Execution>();
        try
        {
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                executions.Add(new Execution(
                    reader.GetInt64(0),
                    reader.GetString(1),
                    reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetFieldValue<DateTimeOffset>(3),
                    reader.GetString(4),
                    reader.GetInt32(5),
                    reader.GetBoolean(6),
                    reader.GetFieldValue<DateTimeOffset>(7),
                    reader.IsDBNull(8) ? null : reader.GetFieldValue<DateTimeOffset>(8)));
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            // No job has run yet: the probe creates its table on first use.
        }

        return executions;
    }

    private sealed record Execution(
        long Id,
        string FireInstanceId,
        string TriggerKey,
        DateTimeOffset? ScheduledFireTime,
        string InstanceId,
        int Pid,
        bool Recovering,
        DateTimeOffset StartedAt,
        DateTimeOffset? CompletedAt);
}
