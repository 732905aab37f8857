using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Concurrency;
using MlPlatform.Workflows.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>maxActiveRuns holds runs back in order; a pool's slots bound its steps over all runs; a dead host's slot expires.</summary>
public sealed class ConcurrencyTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static void NoOverlap(IEnumerable<(DateTimeOffset Start, DateTimeOffset End)> intervals, string what)
    {
        var ordered = intervals.OrderBy(i => i.Start).ToList();
        for (var i = 1; i < ordered.Count; i++)
        {
            ordered[i].Start.ShouldBeGreaterThanOrEqualTo(ordered[i - 1].End, $"{what} {i} started before {i - 1} ended");
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_max_active_runs_of_one_When_three_runs_start_at_once_Then_they_wait_and_run_one_after_another_in_order(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("limited");
        await Submit(api.Maintainer, api.Project, new { name, maxActiveRuns = 1, steps = new object[] { new { id = "work", type = "test.sleep", @params = new { ms = 2000 } } } });

        var ids = new List<Guid>();
        var answered = new List<string?>();
        for (var i = 0; i < 3; i++)
        {
            var response = await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/workflows/{name}/runs", new { parameters = new { } });
            response.StatusCode.ShouldBe(HttpStatusCode.Accepted);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            ids.Add(body.GetProperty("id").GetGuid());
            answered.Add(body.GetProperty("state").GetString());
        }

        // The first was admitted right after its commit and says so; the others wait their turn.
        answered[0].ShouldBeOneOf("queued", "running", "succeeded");
        answered[2].ShouldBe("waiting");
        var third = await Get(api.Viewer, api.Project, ids[2]);
        third.GetProperty("state").GetString().ShouldBe("waiting");
        var runs = new List<JsonElement>();
        foreach (var id in ids)
        {
            runs.Add(await WaitFor(api.Viewer, api.Project, id));
        }

        runs.ShouldAllBe(r => r.GetProperty("state").GetString() == "succeeded");
        var intervals = runs.Select(r => (r.GetProperty("startedAt").GetDateTimeOffset(), r.GetProperty("finishedAt").GetDateTimeOffset())).ToList();
        NoOverlap(intervals, "run");
        // Admitted in the order they were started.
        intervals[1].Item1.ShouldBeGreaterThan(intervals[0].Item1);
        intervals[2].Item1.ShouldBeGreaterThan(intervals[1].Item1);

        // A cancelled waiting run gives way without running. The run ahead of it sleeps long enough
        // that it is surely still running when the cancel arrives (500 ms was not, once, on a busy CI
        // machine), and it is cancelled in turn rather than waited for.
        var slow = NewName("limitedslow");
        await Submit(api.Maintainer, api.Project, new { name = slow, maxActiveRuns = 1, steps = new object[] { new { id = "work", type = "test.sleep", @params = new { ms = 60_000 } } } });
        var a = await Start(api.Maintainer, api.Project, slow);
        var b = await Start(api.Maintainer, api.Project, slow);
        (await Get(api.Viewer, api.Project, b)).GetProperty("state").GetString().ShouldBe("waiting");
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{b}/cancel", null), HttpStatusCode.Accepted);
        (await WaitFor(api.Viewer, api.Project, b)).GetProperty("state").GetString().ShouldBe("cancelled");
        Attempts(await Get(api.Viewer, api.Project, b), "work").ShouldBeEmpty();
        (await Get(api.Viewer, api.Project, a)).GetProperty("state").GetString().ShouldBeOneOf("queued", "running");
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{a}/cancel", null), HttpStatusCode.Accepted);
        (await WaitFor(api.Viewer, api.Project, a)).GetProperty("state").GetString().ShouldBe("cancelled");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_max_active_runs_of_one_When_a_failed_run_is_retried_while_another_runs_Then_it_waits_for_its_turn(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("retrylimit");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            maxActiveRuns = 1,
            steps = new object[]
            {
                new { id = "flaky", type = "test.flaky", @params = new { failures = 1 } },
                new { id = "work", type = "test.sleep", dependsOn = new[] { "flaky" }, @params = new { ms = 5000 } },
            },
        });

        // Both fail at their first step (one at a time); the second is retried and runs (5 s: time
        // enough for the first retry to find it still active on a loaded machine).
        var first = await Start(api.Maintainer, api.Project, name);
        (await WaitFor(api.Viewer, api.Project, first)).GetProperty("state").GetString().ShouldBe("failed");
        var second = await Start(api.Maintainer, api.Project, name);
        (await WaitFor(api.Viewer, api.Project, second)).GetProperty("state").GetString().ShouldBe("failed");
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{second}/retry", null), HttpStatusCode.Accepted);
        await WaitUntil(api.Viewer, api.Project, second, r => State(r, "work") == "running", "second's work running");

        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{first}/retry", null), HttpStatusCode.Accepted);
        (await Get(api.Viewer, api.Project, first)).GetProperty("state").GetString().ShouldBe("waiting");

        var secondRun = await WaitFor(api.Viewer, api.Project, second);
        var firstRun = await WaitFor(api.Viewer, api.Project, first);
        secondRun.GetProperty("state").GetString().ShouldBe("succeeded");
        firstRun.GetProperty("state").GetString().ShouldBe("succeeded", firstRun.ToString());
        Attempts(firstRun, "flaky").Last().GetProperty("startedAt").GetDateTimeOffset()
            .ShouldBeGreaterThanOrEqualTo(Step(secondRun, "work").GetProperty("finishedAt").GetDateTimeOffset());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_steps_in_a_one_slot_pool_When_parallel_in_two_runs_Then_they_never_run_at_once_and_a_dead_hosts_expired_lease_blocks_nothing(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("pooled");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "a", type = "test.sleep", pool = "gpu", @params = new { ms = 300 } },
                new { id = "b", type = "test.sleep", pool = "gpu", @params = new { ms = 300 } },
                new { id = "c", type = "test.sleep", pool = "gpu", @params = new { ms = 300 } },
                new { id = "free", type = "test.sleep", @params = new { ms = 300 } },
            },
        });

        // As if a host died holding the only slot a minute ago: its lease has expired.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            db.PoolLeases.Add(new PoolLease { AttemptId = Guid.NewGuid(), Pool = "gpu", ExpiresAt = DateTimeOffset.UtcNow.AddSeconds(-1) });
            await db.SaveChangesAsync();
        }

        var first = await Start(api.Maintainer, api.Project, name);
        var second = await Start(api.Maintainer, api.Project, name);
        var runs = new[] { await WaitFor(api.Viewer, api.Project, first), await WaitFor(api.Viewer, api.Project, second) };

        runs.ShouldAllBe(r => r.GetProperty("state").GetString() == "succeeded");
        var pooled = runs.SelectMany(r => new[] { "a", "b", "c" }.Select(s => Attempts(r, s).Last()))
            .Select(x => (x.GetProperty("startedAt").GetDateTimeOffset(), x.GetProperty("finishedAt").GetDateTimeOffset())).ToList();
        pooled.Count.ShouldBe(6);
        NoOverlap(pooled, "pooled attempt");
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            db.PoolLeases.Count(l => l.Pool == "gpu").ShouldBe(0);
        }

        var response = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", new StringContent(
            JsonSerializer.Serialize(new { name = NewName("nopool"), steps = new object[] { new { id = "a", type = "noop", pool = "tpu" } } }), Encoding.UTF8, "application/json"));
        var body = await Expect(response, HttpStatusCode.UnprocessableEntity);
        body.GetProperty("errors").EnumerateArray().Select(e => e.GetProperty("path").GetString()).ShouldContain("steps[0].pool");
    }
}
