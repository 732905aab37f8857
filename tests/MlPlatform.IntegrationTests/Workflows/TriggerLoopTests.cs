using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Contracts;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Triggers;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows;

/// <summary>One host per provider with a short cascade (2 triggered runs in a row) and 3 triggered runs per workflow per minute.</summary>
public sealed class TriggerGuardHostsFixture : IAsyncLifetime
{
    public const int MaxCascadeDepth = 2;
    public const int MaxRunsPerMinute = 3;

    private readonly Dictionary<DatabaseProvider, Task<WorkflowTestAccounts>> _hosts = [];
    private readonly Lock _lock = new();

    public Task<WorkflowTestAccounts> For(DatabaseProvider provider)
    {
        lock (_lock)
        {
            if (!_hosts.TryGetValue(provider, out var host))
            {
                host = StartAsync(provider);
                _hosts[provider] = host;
            }

            return host;
        }
    }

    private static async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider)
    {
        var factory = await PlatformFactory.CreateAsync(provider, new Dictionary<string, string?>
        {
            [$"{TriggerOptions.Section}:MaxCascadeDepth"] = MaxCascadeDepth.ToString(System.Globalization.CultureInfo.InvariantCulture),
            [$"{TriggerOptions.Section}:MaxRunsPerMinute"] = MaxRunsPerMinute.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        return await WorkflowTestAccounts.CreateAsync(factory);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            if (host.IsCompletedSuccessfully)
            {
                host.Result.Dispose();
                await host.Result.Factory.DisposeAsync();
            }
        }
    }
}

/// <summary>
/// Event triggers must not loop: a workflow whose run publishes the event that triggers it (its own
/// RunSucceeded, or a dataset version it produced) starts no second run, directly or through
/// other workflows; cascades stop at a depth; untraceable events are limited per minute.
/// </summary>
public sealed class TriggerLoopTests : IClassFixture<TriggerGuardHostsFixture>, IDisposable
{
    private readonly TriggerGuardHostsFixture _hosts;
    private readonly ConcurrentQueue<string> _refusals = new();
    private readonly MeterListener _listener;

    public TriggerLoopTests(TriggerGuardHostsFixture hosts)
    {
        _hosts = hosts;
        _listener = Listen();
    }

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private MeterListener Listen()
    {
        var listener = new MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == "MlPlatform.Workflows" && instrument.Name == "workflows.triggers.refused")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "reason")
                {
                    _refusals.Enqueue((string)tag.Value!);
                }
            }
        });
        listener.Start();
        return listener;
    }

    public void Dispose() => _listener.Dispose();

    private async Task WaitForRefusals(string reason, int count)
    {
        var clock = Stopwatch.StartNew();
        while (_refusals.Count(r => r == reason) < count)
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout, $"waiting for {count} '{reason}' refusals; saw {string.Join(", ", _refusals)}");
            await Task.Delay(50);
        }
    }

    private static async Task<List<JsonElement>> Runs(WorkflowTestAccounts api, string workflow)
    {
        var page = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={workflow}");
        return page.GetProperty("items").EnumerateArray().ToList();
    }

    private static async Task<List<JsonElement>> WaitForRuns(WorkflowTestAccounts api, string workflow, int count)
    {
        var clock = Stopwatch.StartNew();
        List<JsonElement> runs;
        while ((runs = await Runs(api, workflow)).Count < count || runs.Any(r => r.GetProperty("state").GetString() is not ("succeeded" or "failed" or "cancelled")))
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout, $"waiting for {count} finished runs of {workflow}");
            await Task.Delay(50);
        }

        return runs;
    }

    private static object OnRunSucceeded(string name, string of) => new
    {
        name,
        triggers = new object[] { new { @event = "RunSucceeded", where = new { workflow = of } } },
        steps = new object[] { new { id = "a", type = "noop" } },
    };

    private static object OnDataset(string name, string dataset) => new
    {
        name,
        triggers = new object[] { new { @event = "DatasetVersionCreated", where = new { dataset } } },
        steps = new object[] { new { id = "ingest", type = "noop" } },
    };

    /// <summary>Publishes the event from the Monitoring module's outbox, as DataPipelines would from its own.</summary>
    private static async Task PublishDatasetVersion(WorkflowTestAccounts api, string dataset, int version, Guid? producedByRun)
    {
        var project = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}");
        using var scope = api.Factory.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<MonitoringDbContext>();
        db.AddIntegrationEvent(
            new DatasetVersionCreated(Guid.NewGuid(), DateTimeOffset.UtcNow, project.GetProperty("id").GetGuid(), api.Project, Guid.NewGuid(), dataset, version,
                new string('a', 64), $"datasets/{dataset}/{version}.csv", 10, producedByRun),
            TimeProvider.System);
        await db.SaveChangesAsync();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_workflow_triggered_by_its_own_RunSucceeded_When_it_runs_Then_it_does_not_start_itself_again_while_another_workflow_on_that_event_runs(DatabaseProvider provider)
    {
        var api = await _hosts.For(provider);
        var self = NewName("self");
        var witness = NewName("witness");
        await Submit(api.Maintainer, api.Project, OnRunSucceeded(self, self));
        await Submit(api.Maintainer, api.Project, OnRunSucceeded(witness, self));

        await WaitFor(api.Viewer, api.Project, await Start(api.Maintainer, api.Project, self));

        // The witness shows the event was delivered; the refusal shows the rule saw it and held back.
        await WaitForRuns(api, witness, 1);
        await WaitForRefusals("loop", 1);
        (await Runs(api, self)).ShouldHaveSingleItem().GetProperty("trigger").GetString().ShouldBe("api");
        await Task.Delay(2_000);
        (await Runs(api, self)).Count.ShouldBe(1);
        (await Runs(api, witness)).Count.ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_two_workflows_that_trigger_each_other_When_one_runs_Then_the_other_runs_once_and_the_cascade_stops_before_coming_back(DatabaseProvider provider)
    {
        var api = await _hosts.For(provider);
        var a = NewName("ping");
        var b = NewName("pong");
        var c = NewName("after-pong");
        await Submit(api.Maintainer, api.Project, OnRunSucceeded(a, b));
        await Submit(api.Maintainer, api.Project, OnRunSucceeded(b, a));
        await Submit(api.Maintainer, api.Project, OnRunSucceeded(c, b));

        await WaitFor(api.Viewer, api.Project, await Start(api.Maintainer, api.Project, a));

        // a (by hand) → b (its RunSucceeded) → a again would be a loop; c, on the same event as that, is not one.
        (await WaitForRuns(api, b, 1)).ShouldHaveSingleItem().GetProperty("trigger").GetString().ShouldBe("event");
        await WaitForRuns(api, c, 1);
        await WaitForRefusals("loop", 1);
        await Task.Delay(2_000);
        (await Runs(api, a)).Count.ShouldBe(1);
        (await Runs(api, b)).Count.ShouldBe(1);
        (await Runs(api, c)).Count.ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_workflow_triggered_by_a_dataset_it_produces_When_its_run_publishes_a_version_Then_it_is_not_triggered_but_others_are_until_they_loop_back(DatabaseProvider provider)
    {
        var api = await _hosts.For(provider);
        var dataset = NewName("churn");
        var ingest = NewName("ingest");
        var train = NewName("train");
        await Submit(api.Maintainer, api.Project, OnDataset(ingest, dataset));
        await Submit(api.Maintainer, api.Project, OnDataset(train, dataset));
        var first = await Start(api.Maintainer, api.Project, ingest);
        await WaitFor(api.Viewer, api.Project, first);

        // The ingest run stored version 2 of the dataset it is triggered by (as data.ingest would).
        await PublishDatasetVersion(api, dataset, 2, producedByRun: first);
        var trained = (await WaitForRuns(api, train, 1)).Single();
        await WaitForRefusals("loop", 1);
        (await Runs(api, ingest)).Count.ShouldBe(1);

        // The triggered train run writes version 3: train's chain holds itself, ingest's holds ingest (through train).
        await PublishDatasetVersion(api, dataset, 3, producedByRun: trained.GetProperty("id").GetGuid());
        await WaitForRefusals("loop", 3);
        await Task.Delay(1_000);
        (await Runs(api, ingest)).Count.ShouldBe(1);
        (await Runs(api, train)).Count.ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_chain_of_workflows_each_triggered_by_the_previous_When_the_first_runs_Then_the_cascade_stops_at_its_depth(DatabaseProvider provider)
    {
        var api = await _hosts.For(provider);
        var names = Enumerable.Range(1, TriggerGuardHostsFixture.MaxCascadeDepth + 2).Select(i => NewName($"hop{i}")).ToList();
        await Submit(api.Maintainer, api.Project, new { name = names[0], steps = new object[] { new { id = "a", type = "noop" } } });
        for (var i = 1; i < names.Count; i++)
        {
            await Submit(api.Maintainer, api.Project, OnRunSucceeded(names[i], names[i - 1]));
        }

        await WaitFor(api.Viewer, api.Project, await Start(api.Maintainer, api.Project, names[0]));

        // hop1 by hand, then MaxCascadeDepth triggered hops; the next one would be one too many.
        for (var i = 1; i <= TriggerGuardHostsFixture.MaxCascadeDepth; i++)
        {
            await WaitForRuns(api, names[i], 1);
        }

        await WaitForRefusals("depth", 1);
        await Task.Delay(1_000);
        (await Runs(api, names[^1])).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_events_that_name_no_run_When_more_arrive_in_a_minute_than_allowed_Then_the_extra_ones_start_nothing(DatabaseProvider provider)
    {
        var api = await _hosts.For(provider);
        var dataset = NewName("stream");
        var name = NewName("per-version");
        await Submit(api.Maintainer, api.Project, OnDataset(name, dataset));

        for (var version = 1; version <= TriggerGuardHostsFixture.MaxRunsPerMinute + 2; version++)
        {
            await PublishDatasetVersion(api, dataset, version, producedByRun: null);
        }

        await WaitForRefusals("rate", 2);
        (await WaitForRuns(api, name, TriggerGuardHostsFixture.MaxRunsPerMinute)).Count.ShouldBe(TriggerGuardHostsFixture.MaxRunsPerMinute);
    }

    [Fact]
    public void Trigger_keys_carry_the_cause_within_the_column_and_read_it_back()
    {
        var eventId = Guid.NewGuid();
        var rule = Guid.NewGuid();
        var cause = Guid.NewGuid();
        var key = TriggerGuard.KeyFor(eventId, rule, cause);
        key.Length.ShouldBeLessThanOrEqualTo(100);
        key.ShouldStartWith(TriggerGuard.LegacyKeyFor(eventId, rule) + ":");
        TriggerGuard.CauseOf(key).ShouldBe(cause);
        TriggerGuard.CauseOf(TriggerGuard.KeyFor(eventId, rule, null)).ShouldBeNull();
        TriggerGuard.CauseOf(null).ShouldBeNull();
        TriggerGuard.CauseOf("schedule:whatever").ShouldBeNull();
    }
}
