using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Two clustered hosts on one PostgreSQL database share a run's steps and run each attempt once.</summary>
public sealed class TwoHostRunTests
{
    [Fact]
    public async Task Given_two_clustered_hosts_When_a_wide_fan_out_runs_Then_every_step_runs_exactly_once_and_the_join_waits_for_all()
    {
        // The first host runs two attempts at a time and the steps take 200 ms, so work waits, and
        // the second, idle, takes attempts that have waited longer than a second.
        await using var factory = await PlatformFactory.CreateAsync(
            DatabaseProvider.PostgreSql,
            new Dictionary<string, string?> { ["Workflows:Engine:MaxConcurrency"] = "2" },
            s => s.AddStepType<CountingStep>());
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        var secondDirectory = Path.Combine(Path.GetTempPath(), "mlp-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(secondDirectory);
        await using var second = await InProcessHost.StartAsync(
            DatabaseProvider.PostgreSql, secondDirectory, factory.PostgresConnectionString, [],
            new Dictionary<string, string?> { ["Scheduler:IdleWaitTime"] = "00:00:01" }, testServices: s => s.AddStepType<CountingStep>());

        const int width = 40;
        var name = $"fan-{Guid.NewGuid().ToString("N")[..8]}";
        var steps = new List<object> { new { id = "start", type = "test.count" } };
        steps.AddRange(Enumerable.Range(0, width).Select(i => (object)new { id = $"s{i}", type = "test.count", dependsOn = new[] { "start" }, @params = new { ms = 200 } }));
        steps.Add(new { id = "join", type = "test.count", dependsOn = Enumerable.Range(0, width).Select(i => $"s{i}").ToArray() });
        var submit = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows",
            new StringContent(JsonSerializer.Serialize(new { name, steps }), Encoding.UTF8, "application/json"));
        submit.StatusCode.ShouldBe(HttpStatusCode.Created, await submit.Content.ReadAsStringAsync());

        var started = await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/workflows/{name}/runs", new { parameters = new { } });
        started.StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var id = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();

        JsonElement run;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        do
        {
            await Task.Delay(100);
            run = await api.Maintainer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs/{id}");
        }
        while (run.GetProperty("state").GetString() is "queued" or "running" && clock.Elapsed < TimeSpan.FromSeconds(30));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var first = factory.Services.GetRequiredService<CountingStep>().Executions;
        var other = second.Services.GetRequiredService<CountingStep>().Executions;
        foreach (var step in run.GetProperty("steps").EnumerateArray())
        {
            var stepId = step.GetProperty("id").GetString()!;
            var runs = first.GetValueOrDefault((id, stepId)) + other.GetValueOrDefault((id, stepId));
            runs.ShouldBe(1, $"step {stepId} ran {runs} times");
            step.GetProperty("attempts").GetArrayLength().ShouldBe(1);
        }

        var join = run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == "join");
        var lastBranch = run.GetProperty("steps").EnumerateArray().Where(s => s.GetProperty("id").GetString()!.StartsWith('s'))
            .Max(s => s.GetProperty("finishedAt").GetDateTimeOffset());
        join.GetProperty("startedAt").GetDateTimeOffset().ShouldBeGreaterThanOrEqualTo(lastBranch);
        other.Keys.Count(k => k.RunId == id).ShouldBeGreaterThan(0, "the second host took no steps");
        Console.WriteLine($"steps run by the first host: {first.Keys.Count(k => k.RunId == id)}, by the second: {other.Keys.Count(k => k.RunId == id)}");
    }
}
