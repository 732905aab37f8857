using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MlPlatform.IntegrationTests.Workflows.Runs;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Runs;
using MlPlatform.Workflows.StepTypes;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows;

/// <summary>
/// Gaps found by using the API as a user would (issue 4's acceptance): each test is one thing that
/// answered wrongly before its fix.
/// </summary>
public sealed class WorkflowAcceptanceGapTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static string Q(DateTimeOffset at) => Uri.EscapeDataString(at.ToString("O", System.Globalization.CultureInfo.InvariantCulture));

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_time_bounds_with_an_offset_When_listing_runs_Then_they_mean_the_same_instant_as_in_UTC(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("offsets");
        await Submit(api.Maintainer, api.Project, new { name, steps = new object[] { new { id = "a", type = "noop" } } });
        var run = await WaitFor(api.Viewer, api.Project, await Start(api.Maintainer, api.Project, name));
        var created = run.GetProperty("createdAt").GetDateTimeOffset();
        var east = TimeSpan.FromHours(5);
        var west = TimeSpan.FromHours(-7);

        async Task<int> Total(string query)
        {
            var response = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/runs?workflow={name}&{query}");
            var body = await Expect(response, HttpStatusCode.OK);
            return body.GetProperty("total").GetInt32();
        }

        // Before the fix SQLite compared local clock readings (01:30+05:00 sorted after 00:44Z) and
        // PostgreSQL refused a bound that was not in UTC.
        (await Total($"from={Q(created.AddMinutes(-1).ToOffset(east))}")).ShouldBe(1);
        (await Total($"from={Q(created.AddMinutes(-1).ToOffset(west))}")).ShouldBe(1);
        (await Total($"from={Q(created.AddMinutes(1).ToOffset(west))}")).ShouldBe(0);
        (await Total($"to={Q(created.AddMinutes(1).ToOffset(west))}")).ShouldBe(1);
        (await Total($"to={Q(created.AddMinutes(-1).ToOffset(east))}")).ShouldBe(0);
        (await Total($"from={Q(created.AddSeconds(-30).ToOffset(east))}&to={Q(created.AddSeconds(30).ToOffset(west))}")).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_cron_that_never_fires_or_a_mis_cased_time_zone_When_submitted_Then_422_names_each_and_nothing_is_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("badzone");

        async Task<List<(string Path, string Message)>> Errors(string cron, string zone)
        {
            var definition = JsonSerializer.Serialize(new { name, steps = new object[] { new { id = "a", type = "noop" } }, schedule = new { cron, timeZone = zone } });
            var submitted = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", new StringContent(definition, Encoding.UTF8, "application/json"));
            await Expect(submitted, HttpStatusCode.UnprocessableEntity);
            var dryRun = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows/validate", new StringContent(definition, Encoding.UTF8, "application/json"));
            var problem = await Expect(dryRun, HttpStatusCode.UnprocessableEntity);
            return problem.GetProperty("errors").EnumerateArray().Select(e => (e.GetProperty("path").GetString()!, e.GetProperty("message").GetString()!)).ToList();
        }

        // 30 February: Cronos parses it, but no date ever matches, so the schedule would be dead.
        var never = await Errors("0 0 30 2 *", "UTC");
        never.ShouldHaveSingleItem().Path.ShouldBe("schedule.cron");
        never[0].Message.ShouldContain("never fires");

        // The runtime's zone cache ignores case once the exact id was seen, so 'Europe/berlin' was
        // valid or not depending on what the host had looked up before; now it is always an error.
        foreach (var zone in new[] { "Europe/berlin", "utc", "EUROPE/BERLIN" })
        {
            var errors = await Errors("0 3 * * *", zone);
            errors.ShouldHaveSingleItem().Path.ShouldBe("schedule.timeZone");
            errors[0].Message.ShouldContain(zone == "utc" ? "'UTC'" : "'Europe/Berlin'");
        }

        // 29 February fires every four years: valid.
        var leap = JsonSerializer.Serialize(new { name, steps = new object[] { new { id = "a", type = "noop" } }, schedule = new { cron = "0 0 29 2 *", timeZone = "Europe/Berlin" } });
        var valid = await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows/validate", new StringContent(leap, Encoding.UTF8, "application/json")), HttpStatusCode.OK);
        valid.GetProperty("nextScheduledRuns").GetArrayLength().ShouldBe(5);

        (await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_run_that_starts_and_ends_When_the_active_runs_gauge_is_read_Then_it_follows_within_seconds_not_at_the_next_sweep(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var probe = api.Factory.Services.GetServices<IHostedService>().OfType<ActiveRunsProbe>().Single();
        probe.MaxAge.ShouldBe(TimeSpan.FromSeconds(2));

        // Only this class's tests use this fixture's hosts, one after another: nothing else is active here.
        async Task Until(long expected)
        {
            var clock = Stopwatch.StartNew();
            long seen;
            while ((seen = probe.Current()) != expected)
            {
                clock.Elapsed.ShouldBeLessThan(RunTimeout, $"the gauge stayed at {seen}, expected {expected}");
                await Task.Delay(100);
            }
        }

        await Until(0);
        var name = NewName("gauge");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "gate", type = "approval", @params = new { message = "hold the run open" } } },
        });
        var run = await Start(api.Maintainer, api.Project, name);
        await WaitUntil(api.Viewer, api.Project, run, r => State(r, "gate") == "running", "the approval waiting");

        // The sweep that used to refresh it runs every 30 s (on one host of a cluster); the probe counts on read.
        await Until(1);
        var observed = new List<long>();
        using (var listener = new MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == WorkflowMetrics.MeterName && instrument.Name == "workflows.runs.active")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            };
            listener.SetMeasurementEventCallback<long>((_, value, _, _) => observed.Add(value));
            listener.Start();
            listener.RecordObservableInstruments();
        }

        // Other test classes' hosts in this process add their own active runs to the process-wide gauge.
        observed.ShouldHaveSingleItem().ShouldBeGreaterThanOrEqualTo(1);
        (await api.Viewer.GetStringAsync("/metrics")).ShouldContain("workflows_runs_active");

        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{run}/cancel", null), HttpStatusCode.Accepted);
        await WaitFor(api.Viewer, api.Project, run);
        await Until(0);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_thousands_of_unknown_dependencies_When_validated_Then_every_error_is_listed_and_suggestions_stop_at_a_budget(DatabaseProvider provider)
    {
        // Each "did you mean" compared the unknown id with every step id: 40,000 unknown ids in a
        // 20,000-step definition kept a core busy for half a minute per request.
        var api = await hosts.For(provider);
        const int count = 2_000;
        var steps = Enumerable.Range(0, count)
            .Select(i => new { id = $"step{i}", type = "noop", dependsOn = new[] { $"stepp{i}" } })
            .ToList();
        var definition = JsonSerializer.Serialize(new { name = NewName("typos"), steps });

        var response = await api.Viewer.PostAsync($"/api/v1/projects/{api.Project}/workflows/validate", new StringContent(definition, Encoding.UTF8, "application/json"));

        var problem = await Expect(response, HttpStatusCode.UnprocessableEntity);
        var errors = problem.GetProperty("errors").EnumerateArray().Select(e => (Path: e.GetProperty("path").GetString()!, Message: e.GetProperty("message").GetString()!)).ToList();
        errors.Count.ShouldBe(count);
        errors[0].ShouldBe(("steps[0].dependsOn[0]", "Unknown step 'stepp0': no step has this id; did you mean 'step0'?"));
        // 200,000 comparisons over 2,000 ids: the first 100 errors get a suggestion, the others none.
        errors.Count(e => e.Message.Contains("did you mean", StringComparison.Ordinal)).ShouldBe(100);
        errors[^1].ShouldBe(($"steps[{count - 1}].dependsOn[0]", $"Unknown step 'stepp{count - 1}': no step has this id."));
    }

    [Fact]
    public void Given_appsettings_with_an_empty_allow_list_When_the_environment_adds_hosts_as_a_list_Then_http_steps_may_call_them()
    {
        // appsettings.json ships "AllowedHosts": [], which the JSON provider turns into the value "";
        // Workflows__Http__AllowedHosts__0=… in the environment used to be ignored because of it.
        var json = new MemoryStream(Encoding.UTF8.GetBytes("""{"Workflows": {"Http": {"AllowedHosts": []}}}"""));
        var configuration = new ConfigurationBuilder()
            .AddJsonStream(json)
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Workflows:Http:AllowedHosts:0"] = "api.example.com",
                ["Workflows:Http:AllowedHosts:1"] = "127.0.0.1:8080",
            })
            .Build();

        var options = HttpStepOptions.Read(configuration);

        options.AllowedHosts.ShouldBe(["api.example.com", "127.0.0.1:8080"]);
        options.Allows(new Uri("https://api.example.com/x")).ShouldBeTrue();
        options.Allows(new Uri("http://127.0.0.1:8080/x")).ShouldBeTrue();
        options.Allows(new Uri("http://127.0.0.1:9090/x")).ShouldBeFalse();

        // The comma-separated form (one environment variable) still works, alone or with a list.
        var both = new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Workflows:Http:AllowedHosts"] = "a.example.com, *.b.example.com",
            })
            .Build();
        HttpStepOptions.Read(both).AllowedHosts.ShouldBe(["a.example.com", "*.b.example.com"]);
        HttpStepOptions.Read(new ConfigurationBuilder().AddJsonStream(new MemoryStream(Encoding.UTF8.GetBytes("""{"Workflows": {"Http": {"AllowedHosts": []}}}"""))).Build())
            .AllowedHosts.ShouldBeEmpty();
    }
}
