using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>The engine's metrics and the run detail a graph view draws (nodes, edges, states, durations).</summary>
public sealed class RunMetricsTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_run_When_it_finishes_Then_metrics_record_its_state_step_durations_and_start_delays_and_the_detail_has_the_dag(DatabaseProvider provider)
    {
        var seen = new ConcurrentBag<(string Instrument, double Value, string Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "MlPlatform.Workflows")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((i, v, tags, _) => seen.Add((i.Name, v, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.SetMeasurementEventCallback<long>((i, v, tags, _) => seen.Add((i.Name, v, string.Join(",", tags.ToArray().Select(t => $"{t.Key}={t.Value}")))));
        listener.Start();

        var api = await hosts.For(provider);
        var name = NewName("metrics");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "a", type = "noop" },
                new { id = "b", type = "test.sleep", dependsOn = new[] { "a" }, @params = new { ms = 200 } },
                new { id = "c", type = "noop", dependsOn = new[] { "a" } },
                new { id = "d", type = "noop", dependsOn = new[] { "b", "c" } },
            },
        });
        var run = await WaitFor(api.Viewer, api.Project, await Start(api.Maintainer, api.Project, name));
        run.GetProperty("state").GetString().ShouldBe("succeeded");

        seen.ShouldContain(m => m.Instrument == "workflows.runs.finished" && m.Tags == "state=succeeded");
        seen.ShouldContain(m => m.Instrument == "workflows.step.duration" && m.Tags == "type=test.sleep,outcome=succeeded" && m.Value >= 0.19);
        seen.ShouldContain(m => m.Instrument == "workflows.step.start_delay");
        listener.RecordObservableInstruments();
        seen.ShouldContain(m => m.Instrument == "workflows.runs.active");
        // The scrape with these series in it still passes promtool's lint (base units, names).
        var (exitCode, output) = await Host.HostTests.Promtool(await api.Viewer.GetStringAsync("/metrics"));
        exitCode.ShouldBe(0, output);

        run.GetProperty("edges").EnumerateArray().Select(e => $"{e.GetProperty("from").GetString()}->{e.GetProperty("to").GetString()}")
            .ShouldBe(["a->b", "a->c", "b->d", "c->d"], ignoreOrder: true);
        Step(run, "d").GetProperty("dependsOn").EnumerateArray().Select(d => d.GetString()).ShouldBe(["b", "c"]);
        Step(run, "b").GetProperty("durationMs").GetDouble().ShouldBeGreaterThanOrEqualTo(190);
        run.GetProperty("durationMs").GetDouble().ShouldBeGreaterThan(0);

        var from = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(-5).ToString("O"));
        var listed = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={name}&state=succeeded&from={from}");
        listed.GetProperty("total").GetInt32().ShouldBe(1);
        var future = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddMinutes(5).ToString("O"));
        (await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={name}&from={future}")).GetProperty("total").GetInt32().ShouldBe(0);
    }
}
