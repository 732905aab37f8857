using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Schedules firing through the host's tick (every second here), their overlap and catch-up policies, pause/resume and backfill.</summary>
public sealed class ScheduleTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<List<JsonElement>> Runs(WorkflowTestAccounts api, string workflow, string query = "")
    {
        var page = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={workflow}&limit=200{query}");
        return page.GetProperty("items").EnumerateArray().OrderBy(r => r.GetProperty("createdAt").GetDateTimeOffset()).ToList();
    }

    private static async Task<List<JsonElement>> WaitForRuns(WorkflowTestAccounts api, string workflow, Func<List<JsonElement>, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var runs = await Runs(api, workflow);
            if (condition(runs))
            {
                return runs;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(30))
            {
                throw new TimeoutException($"{workflow}: {what} did not happen; runs: {string.Join(", ", runs.Select(r => r.GetProperty("state").GetString()))}");
            }

            await Task.Delay(100);
        }
    }

    private static int Count(List<JsonElement> runs, string state) => runs.Count(r => r.GetProperty("state").GetString() == state);

    private static object Scheduled(string name, string overlap, int sleepMs, bool catchUp = false) => new
    {
        name,
        schedule = new { cron = "* * * * * *", overlap, catchUp },
        steps = new object[]
        {
            new { id = "stamp", type = "noop", @params = new { outputs = new { at = "${run.scheduledAt}" } } },
            new { id = "work", type = "test.sleep", dependsOn = new[] { "stamp" }, @params = new { ms = sleepMs } },
        },
    };

    private static async Task Pause(WorkflowTestAccounts api, string name) =>
        (await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows/{name}/schedule/pause", null), HttpStatusCode.OK))
            .GetProperty("paused").GetBoolean().ShouldBeTrue();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_every_second_schedule_with_skip_overlap_When_runs_take_longer_Then_runs_never_overlap_and_pause_stops_it(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("sched-skip");
        await Submit(api.Maintainer, api.Project, Scheduled(name, "skip", 1_800));
        var schedule = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/workflows/{name}/schedule");
        schedule.GetProperty("overlap").GetString().ShouldBe("skip");
        schedule.GetProperty("upcoming").GetArrayLength().ShouldBe(5);

        await WaitForRuns(api, name, runs => Count(runs, "succeeded") >= 2, "two scheduled runs finishing");
        await Pause(api, name);
        var runs = await WaitForRuns(api, name, r => r.All(x => x.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled"), "the active run finishing");

        runs.ShouldAllBe(r => r.GetProperty("trigger").GetString() == "schedule");
        for (var i = 1; i < runs.Count; i++)
        {
            // Skip: a fire time that comes while a scheduled run is active starts nothing.
            runs[i].GetProperty("createdAt").GetDateTimeOffset().ShouldBeGreaterThanOrEqualTo(runs[i - 1].GetProperty("finishedAt").GetDateTimeOffset());
            runs[i].GetProperty("scheduledAt").GetDateTimeOffset().ShouldBeGreaterThan(runs[i - 1].GetProperty("scheduledAt").GetDateTimeOffset());
        }

        var detail = await Get(api.Viewer, api.Project, runs[0].GetProperty("id").GetGuid());
        var scheduledAt = detail.GetProperty("scheduledAt").GetDateTimeOffset();
        scheduledAt.Millisecond.ShouldBe(0);
        Step(detail, "stamp").GetProperty("outputs").GetProperty("at").GetDateTimeOffset().ShouldBe(scheduledAt);
        (await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/workflows/{name}/schedule")).GetProperty("skippedFires").GetInt32().ShouldBeGreaterThan(0);

        // Paused: no new runs.
        await Task.Delay(2_500);
        (await Runs(api, name)).Count.ShouldBe(runs.Count);

        await Expect(await api.Viewer.PostAsync($"/api/v1/projects/{api.Project}/workflows/{name}/schedule/resume", null), HttpStatusCode.Forbidden);
        await Expect(await api.Outsider.PostAsync($"/api/v1/projects/{api.Project}/workflows/{name}/schedule/pause", null), HttpStatusCode.NotFound);
        var resumed = await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows/{name}/schedule/resume", null), HttpStatusCode.OK);
        resumed.GetProperty("paused").GetBoolean().ShouldBeFalse();
        await WaitForRuns(api, name, r => r.Count > runs.Count, "a run after resuming");
        await Pause(api, name);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_allow_and_cancel_previous_overlap_When_runs_take_longer_than_the_interval_Then_runs_overlap_or_replace_each_other(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var allow = NewName("sched-allow");
        await Submit(api.Maintainer, api.Project, Scheduled(allow, "allow", 3_000));
        await WaitForRuns(api, allow, runs => Count(runs, "running") + Count(runs, "queued") >= 2, "two scheduled runs active at once");
        await Pause(api, allow);

        var replace = NewName("sched-cancel");
        await Submit(api.Maintainer, api.Project, Scheduled(replace, "cancelPrevious", 30_000));
        var runs = await WaitForRuns(api, replace, r => Count(r, "cancelled") >= 1 && r.Count >= 2, "a run replaced by the next one");
        await Pause(api, replace);
        runs[0].GetProperty("state").GetString().ShouldBe("cancelled");
        foreach (var run in await Runs(api, replace, "&state=running"))
        {
            await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{run.GetProperty("id").GetGuid()}/cancel", null);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_missed_fire_times_after_downtime_When_catch_up_is_on_or_off_Then_every_missed_time_or_only_the_latest_runs(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        foreach (var catchUp in new[] { true, false })
        {
            var name = NewName(catchUp ? "catchup" : "nocatchup");
            await Submit(api.Maintainer, api.Project, Scheduled(name, "allow", 0, catchUp));
            await Pause(api, name);
            await Task.Delay(1_200);
            var before = (await Runs(api, name)).Count;

            // As if every host had been down for the last 5 seconds: the schedule is due since then.
            var downSince = DateTimeOffset.UtcNow.AddSeconds(-5);
            using (var scope = api.Factory.Services.CreateScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
                var workflowId = await db.Workflows.Where(w => w.Name == name).Select(w => w.Id).SingleAsync();
                var row = await db.Schedules.SingleAsync(s => s.WorkflowId == workflowId);
                row.Paused = false;
                row.NextFireAt = new DateTimeOffset(downSince.Ticks - (downSince.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero).AddSeconds(1);
                await db.SaveChangesAsync();
            }

            var restart = DateTimeOffset.UtcNow;
            var runs = await WaitForRuns(api, name, r => r.Count > before, "runs for the missed times");
            await Task.Delay(300);
            await Pause(api, name);
            runs = await Runs(api, name);
            var missed = runs.Select(r => r.GetProperty("scheduledAt").GetDateTimeOffset()).Where(t => t <= restart.AddMilliseconds(-1_000)).ToList();
            if (catchUp)
            {
                missed.Count.ShouldBeGreaterThanOrEqualTo(4, string.Join(", ", missed));
                missed.Distinct().Count().ShouldBe(missed.Count);
            }
            else
            {
                missed.Count.ShouldBeLessThanOrEqualTo(1, string.Join(", ", missed));
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_cron_workflow_When_backfilled_Then_one_run_per_fire_time_with_its_logical_time(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("backfill");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            schedule = new { cron = "0 9 * * *", timeZone = "Europe/Berlin" },
            steps = new object[] { new { id = "stamp", type = "noop", @params = new { outputs = new { at = "${run.scheduledAt}" } } } },
        });
        var url = $"/api/v1/projects/{api.Project}/workflows/{name}/backfill";
        var result = await Expect(await api.Maintainer.PostAsJsonAsync(url, new { from = "2026-01-05T00:00:00Z", to = "2026-01-07T23:59:59Z" }), HttpStatusCode.Accepted);

        var runs = result.GetProperty("runs").EnumerateArray().ToList();
        // 09:00 in Berlin in winter is 08:00 UTC.
        runs.Select(r => r.GetProperty("scheduledAt").GetDateTimeOffset().UtcDateTime).ShouldBe(
            [new DateTime(2026, 1, 5, 8, 0, 0, DateTimeKind.Utc), new DateTime(2026, 1, 6, 8, 0, 0, DateTimeKind.Utc), new DateTime(2026, 1, 7, 8, 0, 0, DateTimeKind.Utc)]);
        foreach (var run in runs)
        {
            var done = await WaitFor(api.Viewer, api.Project, run.GetProperty("id").GetGuid());
            done.GetProperty("state").GetString().ShouldBe("succeeded");
            done.GetProperty("trigger").GetString().ShouldBe("backfill");
            Step(done, "stamp").GetProperty("outputs").GetProperty("at").GetDateTimeOffset().ShouldBe(run.GetProperty("scheduledAt").GetDateTimeOffset());
        }

        (await Runs(api, name, "&trigger=backfill")).Count.ShouldBe(3);
        await Expect(await api.Maintainer.PostAsJsonAsync(url, new { from = "2026-01-07T00:00:00Z", to = "2026-01-05T00:00:00Z" }), HttpStatusCode.BadRequest);
        await Expect(await api.Maintainer.PostAsJsonAsync(url, new { from = "2020-01-01T00:00:00Z", to = "2026-01-01T00:00:00Z" }), HttpStatusCode.BadRequest);
        await Expect(await api.Viewer.PostAsJsonAsync(url, new { from = "2026-01-05T00:00:00Z", to = "2026-01-06T00:00:00Z" }), HttpStatusCode.Forbidden);
        await Expect(await api.Outsider.PostAsJsonAsync($"/api/v1/projects/{api.OtherProject}/workflows/{name}/backfill", new { from = "2026-01-05T00:00:00Z", to = "2026-01-06T00:00:00Z" }), HttpStatusCode.NotFound);

        var unscheduled = NewName("nocron");
        await Submit(api.Maintainer, api.Project, new { name = unscheduled, steps = new object[] { new { id = "a", type = "noop" } } });
        await Expect(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/workflows/{unscheduled}/backfill", new { from = "2026-01-05T00:00:00Z", to = "2026-01-06T00:00:00Z" }), HttpStatusCode.Conflict);
        await Expect(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{unscheduled}/schedule"), HttpStatusCode.NotFound);
    }
}
