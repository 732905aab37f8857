using System.Net;
using System.Net.Http.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>Weighted split, sticky keys, explicit variants, shadow copies and alias moves under load.</summary>
public sealed class TrafficTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_80_20_split_Then_traffic_splits_within_bounds_keys_stick_and_header_selects(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var endpoint = await Endpoint(api, name => new
        {
            name,
            variants = new object[] { new { name = "stable", model, version = 1, weight = 80 }, new { name = "canary", model, version = 2, weight = 20 } },
        });

        const int n = 600;
        var canary = 0;
        for (var i = 0; i < n; i++)
        {
            var response = await Infer(api.Viewer, endpoint, V2Body(Row));
            var body = await Json(response, HttpStatusCode.OK);
            var variant = Header(response, "X-Variant");
            var version = variant == "canary" ? 2 : 1;
            Header(response, "X-Model-Version").ShouldBe(version.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Output(body)[0].ShouldBe(Expected(version, Row), 1e-6f);
            canary += variant == "canary" ? 1 : 0;
        }

        // Binomial(600, 0.2): mean 120, standard deviation ≈ 9.8; ±5σ.
        canary.ShouldBeInRange(71, 169);

        for (var k = 0; k < 20; k++)
        {
            var key = $"customer-{k}";
            var first = Header(await Infer(api.Viewer, endpoint, V2Body(Row), key: key), "X-Variant");
            for (var i = 0; i < 5; i++)
            {
                Header(await Infer(api.Viewer, endpoint, V2Body(Row), key: key), "X-Variant").ShouldBe(first);
            }
        }

        for (var i = 0; i < 10; i++)
        {
            Header(await Infer(api.Viewer, endpoint, V2Body(Row), variant: "canary"), "X-Variant").ShouldBe("canary");
        }

        var byPath = await Infer(api.Viewer, endpoint, V2Body(Row), path: $"/v2/models/{endpoint}/versions/2/infer");
        Header(byPath, "X-Variant").ShouldBe("canary");
        await Error(await Infer(api.Viewer, endpoint, V2Body(Row), variant: "nope"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_shadow_Then_callers_get_the_primary_answer_and_shadow_runs_and_differences_are_recorded(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var endpoint = await Endpoint(api, name => new
        {
            name,
            variants = new object[] { new { name = "main", model, version = 1 } },
            shadow = new { name = "next", model, version = 2 },
        });

        for (var i = 0; i < 20; i++)
        {
            var response = await Infer(api.Viewer, endpoint, V2Body(Row));
            Header(response, "X-Variant").ShouldBe("main");
            Output(await Json(response, HttpStatusCode.OK))[0].ShouldBe(Expected(1, Row), 1e-6f);
        }

        var expectedDifference = Math.Abs(Expected(2, Row) - Expected(1, Row));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        System.Text.Json.JsonElement stats;
        do
        {
            await Task.Delay(50);
            var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.OK);
            stats = read.GetProperty("shadowStats");
        }
        while (stats.GetProperty("runs").GetInt64() < 20 && DateTime.UtcNow < deadline);

        stats.GetProperty("runs").GetInt64().ShouldBe(20);
        stats.GetProperty("failures").GetInt64().ShouldBe(0);
        stats.GetProperty("maxDifference").GetDouble().ShouldBe(expectedDifference, 1e-6);
        stats.GetProperty("meanMilliseconds").GetDouble().ShouldBeGreaterThan(0);
        // The shadow is not reachable by weight, only explicitly for testing.
        Header(await Infer(api.Viewer, endpoint, V2Body(Row), variant: "next"), "X-Variant").ShouldBe("next");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_variant_following_alias_When_alias_moves_under_concurrent_load_Then_no_request_fails_and_traffic_moves(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 3);
        await MoveAlias(api, model, "live", 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, alias = "live" } } });

        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var clients = Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var response = await Infer(api.Viewer, endpoint, V2Body(Row));
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    lock (failures)
                    {
                        failures.Add($"{(int)response.StatusCode} {text}");
                    }

                    continue;
                }

                var version = Header(response, "X-Model-Version");
                seen.AddOrUpdate(version, 1, (_, c) => c + 1);
                using var body = System.Text.Json.JsonDocument.Parse(text);
                var y = Output(body.RootElement)[0];
                if (Math.Abs(y - Expected(int.Parse(version, System.Globalization.CultureInfo.InvariantCulture), Row)) > 1e-5)
                {
                    lock (failures)
                    {
                        failures.Add($"version {version} answered {y}");
                    }
                }
            }
        })).ToList();

        // Each move waits until the clients have been answered by the version before it, however slow the machine.
        Task<bool> Seen(string version) => Task.FromResult(seen.ContainsKey(version));
        await Polling.UntilAsync(() => Seen("1"), x => x);
        await MoveAlias(api, model, "live", 2);
        await WaitForVersion(api, endpoint, "2");
        await Polling.UntilAsync(() => Seen("2"), x => x);
        await MoveAlias(api, model, "live", 3);
        await WaitForVersion(api, endpoint, "3");
        await Polling.UntilAsync(() => Seen("3"), x => x);
        await Task.Delay(200);
        stop.Cancel();
        await Task.WhenAll(clients);

        failures.ShouldBeEmpty();
        seen.Keys.ShouldBe(["1", "2", "3"], ignoreOrder: true);
        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.OK);
        read.GetProperty("variants")[0].GetProperty("version").GetInt32().ShouldBe(3);
    }

    private static async Task WaitForVersion(Infrastructure.WorkflowTestAccounts api, string endpoint, string version)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var response = await Infer(api.Viewer, endpoint, V2Body(Row));
            if (Header(response, "X-Model-Version") == version)
            {
                return;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Endpoint {endpoint} did not move to version {version}.");
            }

            await Task.Delay(25);
        }
    }
}
