using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>
/// Two host processes on one PostgreSQL database; the one running a step is killed with SIGKILL and
/// the other completes the run, re-running the step as a new attempt.
/// </summary>
public sealed class KilledHostRunTests(ITestOutputHelper output) : IAsyncLifetime
{
    private readonly List<ClusterNode> _nodes = [];
    private readonly string _pidDirectory = Path.Combine(Path.GetTempPath(), "mlp-pids-" + Guid.NewGuid().ToString("N")[..12]);
    private PostgresDatabase? _database;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_pidDirectory);
        _database = await PostgresDatabase.CreateAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes)
        {
            output.WriteLine(node.Output());
            await node.DisposeAsync();
        }

        if (_database is not null)
        {
            await _database.DisposeAsync();
        }

        Directory.Delete(_pidDirectory, recursive: true);
    }

    [Fact]
    public async Task Given_two_hosts_When_the_host_running_a_step_is_killed_Then_the_other_reruns_it_as_attempt_2_and_the_run_completes()
    {
        foreach (var name in new[] { "node-a", "node-b" })
        {
            var node = ClusterNode.Start(name, _database!.ConnectionString,
                $"--UserManagement:BootstrapAdmin:Username={TestUsers.AdminName}",
                $"--UserManagement:BootstrapAdmin:Password={TestUsers.AdminPassword}",
                "--Scheduler:IdleWaitTime=00:00:01",
                // Short leases, so the survivor finds the victim's attempt within seconds.
                "--Workflows:Engine:LeaseDuration=00:00:04",
                "--Workflows:Engine:RenewEvery=00:00:01",
                "--Workflows:Engine:SweepEvery=00:00:01");
            _nodes.Add(node);
            await node.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        }

        using var api = new HttpClient { BaseAddress = _nodes[0].BaseAddress };
        var login = await api.PostAsJsonAsync("/api/v1/auth/login", new { username = TestUsers.AdminName, password = TestUsers.AdminPassword });
        login.StatusCode.ShouldBe(HttpStatusCode.OK, await login.Content.ReadAsStringAsync());
        var token = (await login.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("accessToken").GetString();
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        (await api.PostAsJsonAsync("/api/v1/projects", new { name = "killed" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        var definition = JsonSerializer.Serialize(new
        {
            name = "survives",
            steps = new object[]
            {
                new { id = "long", type = "probe.sleep", @params = new { ms = 4000, pidDir = _pidDirectory } },
                new { id = "after", type = "noop", dependsOn = new[] { "long" } },
            },
        });
        (await api.PostAsync("/api/v1/projects/killed/workflows", new StringContent(definition, Encoding.UTF8, "application/json")))
            .StatusCode.ShouldBe(HttpStatusCode.Created);
        var started = await api.PostAsJsonAsync("/api/v1/projects/killed/workflows/survives/runs", new { parameters = new { } });
        started.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var runId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();

        var firstPidFile = Path.Combine(_pidDirectory, $"{runId}-long-1.pid");
        var clock = Stopwatch.StartNew();
        while (!File.Exists(firstPidFile) || new FileInfo(firstPidFile).Length == 0)
        {
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20), "the step did not start\n" + Logs());
            await Task.Delay(50);
        }

        var victimPid = int.Parse(await File.ReadAllTextAsync(firstPidFile), System.Globalization.CultureInfo.InvariantCulture);
        var victim = _nodes.Single(n => n.ProcessId == victimPid);
        var survivor = _nodes.Single(n => n != victim);
        victim.Kill();
        var sinceKill = Stopwatch.StartNew();

        // Ask the survivor from now on: the victim is gone.
        using var survivorApi = new HttpClient { BaseAddress = survivor.BaseAddress };
        survivorApi.DefaultRequestHeaders.Authorization = api.DefaultRequestHeaders.Authorization;
        JsonElement run;
        do
        {
            await Task.Delay(200);
            run = await survivorApi.GetFromJsonAsync<JsonElement>($"/api/v1/projects/killed/runs/{runId}");
        }
        while (run.GetProperty("state").GetString() is "queued" or "running" && sinceKill.Elapsed < TimeSpan.FromSeconds(40));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run + "\n" + Logs());
        var steps = run.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetString()!);
        var attempts = steps["long"].GetProperty("attempts").EnumerateArray().ToList();
        attempts.Count.ShouldBe(2, run.ToString());
        attempts[0].GetProperty("state").GetString().ShouldBe("failed");
        attempts[0].GetProperty("error").GetString()!.ShouldContain("host");
        attempts[1].GetProperty("state").GetString().ShouldBe("succeeded");
        (await File.ReadAllTextAsync(Path.Combine(_pidDirectory, $"{runId}-long-2.pid"))).ShouldBe(survivor.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        steps["after"].GetProperty("state").GetString().ShouldBe("succeeded");
        output.WriteLine($"Run completed {sinceKill.Elapsed.TotalSeconds:F1} s after the kill.");
    }

    private string Logs() => string.Join("\n", _nodes.Select(n => n.Output()));
}
