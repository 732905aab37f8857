using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>
/// Two hosts on one PostgreSQL database and one artifact folder, as a cluster behind a load
/// balancer: endpoint changes made through one host reach the other's routing table through the
/// endpoint-change rows in the module's outbox, not its revision poll.
/// </summary>
public sealed class TwoHostServingTests
{
    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];

    [Fact]
    public async Task Given_two_hosts_When_weights_change_on_the_first_Then_the_second_serves_the_new_split_promptly_with_no_failed_request_and_a_delete_follows()
    {
        await using var factory = await PlatformFactory.CreateAsync(
            DatabaseProvider.PostgreSql, new Dictionary<string, string?> { ["Gateway:RateLimits:Enabled"] = "false" });
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        // The second host's revision poll and outbox dispatcher idle for the whole test: the first
        // host's changes can reach it only by the outbox rows every host follows.
        await using var second = await SecondHostAsync(factory, api, ("Predictions:RefreshInterval", "00:10:00"));

        var model = await ModelWithVersions(api, 2);
        var endpoint = await Endpoint(api, name => new
        {
            name,
            variants = new object[] { new { name = "a", model, version = 1, weight = 100 }, new { name = "b", model, version = 2, weight = 0 } },
        });
        Header(await Infer(second.Client, endpoint, V2Body(Row)), "X-Variant").ShouldBe("a");

        // Clients keep calling the second host while the first changes the split.
        var failures = new ConcurrentQueue<string>();
        var answers = new ConcurrentQueue<string>();
        var oldAfterSwitch = new ConcurrentQueue<string>();
        var switchSeen = 0;
        using var stop = new CancellationTokenSource();
        var clients = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                // Whether this request was sent after the second host was seen serving the new split.
                var sentAfterSwitch = Volatile.Read(ref switchSeen) == 1;
                using var response = await Infer(second.Client, endpoint, V2Body(Row));
                var text = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    failures.Enqueue($"{(int)response.StatusCode} {text}");
                    continue;
                }

                var variant = Header(response, "X-Variant");
                using var body = System.Text.Json.JsonDocument.Parse(text);
                var value = Output(body.RootElement)[0];
                var expected = Expected(variant == "b" ? 2 : 1, Row);
                if (Math.Abs(value - expected) > 1e-5f)
                {
                    failures.Enqueue($"variant {variant} answered {value}, its version gives {expected}");
                }

                answers.Enqueue(variant);
                if (sentAfterSwitch && variant != "b")
                {
                    oldAfterSwitch.Enqueue(variant);
                }
            }
        })).ToArray();

        // The clients have been answered by the old split before it changes, however slow the machine.
        (await Polling.UntilAsync(() => Task.FromResult(answers.Contains("a")), x => x)).ShouldBeTrue("no answer from the old split");
        await Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/weights", new { weights = new { a = 0, b = 100 } }), HttpStatusCode.OK);

        // Far below the 10 min revision poll: only the followed change explains the second host's switch.
        var switched = await Polling.UntilAsync(
            async () =>
            {
                using var response = await Infer(second.Client, endpoint, V2Body(Row));
                return response.StatusCode == HttpStatusCode.OK && Header(response, "X-Variant") == "b";
            },
            done => done);
        switched.ShouldBeTrue("the second host still serves the old split");
        Volatile.Write(ref switchSeen, 1);
        var afterSwitch = answers.Count;
        (await Polling.UntilAsync(() => Task.FromResult(answers.Skip(afterSwitch).Contains("b")), x => x)).ShouldBeTrue("no answer from the new split");
        await Task.Delay(200);
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        failures.ShouldBeEmpty();
        answers.ShouldContain("a");
        // Once the second host switched, every request sent later is answered by the new split (all to b).
        // Judged by when each request was sent, not by its place in the queue: a request that chose its
        // variant just before the switch may be answered after many later ones on a busy machine.
        oldAfterSwitch.ShouldBeEmpty();
        answers.Skip(afterSwitch).ShouldContain("b");
        for (var i = 0; i < 20; i++)
        {
            Header(await Infer(second.Client, endpoint, V2Body(Row)), "X-Variant").ShouldBe("b");
        }

        // An alias move, followed by whichever host the registry's event is delivered to: the second host follows too.
        await MoveAlias(api, model, "live", 1);
        var following = await Endpoint(api, name => new { name, variants = new object[] { new { name = "live", model, alias = "live" } } });
        Header(await Infer(second.Client, following, V2Body(Row)), "X-Model-Version").ShouldBe("1");
        await MoveAlias(api, model, "live", 2);
        (await Polling.UntilAsync(async () => Header(await Infer(second.Client, following, V2Body(Row)), "X-Model-Version"), v => v == "2")).ShouldBe("2");

        // A delete on the first host: the second stops serving the endpoint too.
        (await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await InferStatus(second.Client, endpoint, HttpStatusCode.NotFound)).ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Given_two_hosts_with_long_caches_When_a_member_is_removed_on_the_first_Then_the_second_refuses_them_promptly()
    {
        await using var factory = await PlatformFactory.CreateAsync(
            DatabaseProvider.PostgreSql, new Dictionary<string, string?> { ["Gateway:RateLimits:Enabled"] = "false" });
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        // Both of the second host's authorization caches outlive the test, and its outbox dispatcher
        // idles: only the membership rows every host follows can take the viewer's access away there.
        await using var second = await SecondHostAsync(factory, api, ("Predictions:AccessCacheFor", "00:10:00"), ("UserManagement:Access:CacheFor", "00:10:00"));

        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        // Granted once on the second host, so both of its caches hold the viewer's access.
        for (var i = 0; i < 3; i++)
        {
            (await Infer(second.Client, endpoint, V2Body(Row))).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await second.Client.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.OK);

        using var members = await api.Admin.GetFromJsonAsync<System.Text.Json.JsonDocument>($"/api/v1/projects/{api.Project}/members");
        var viewerId = members!.RootElement.EnumerateArray().Single(m => m.GetProperty("role").GetString() == "Viewer").GetProperty("userId").GetGuid();
        (await api.Admin.DeleteAsync($"/api/v1/projects/{api.Project}/members/{viewerId}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        // Far below the caches' 10 minutes: only the followed change explains the refusal.
        (await InferStatus(second.Client, endpoint, HttpStatusCode.NotFound)).ShouldBe(HttpStatusCode.NotFound);
        (await second.Client.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        // Added back (as a member again, on the first host): the second host lets them in again just as promptly.
        (await api.Admin.PutAsJsonAsync($"/api/v1/projects/{api.Project}/members/{viewerId}", new { role = "Viewer" })).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await InferStatus(second.Client, endpoint, HttpStatusCode.OK)).ShouldBe(HttpStatusCode.OK);
    }

    /// <summary>The second host's answer to an inference, read until it is <paramref name="expected"/> (or 15 s passed).</summary>
    private static Task<HttpStatusCode> InferStatus(HttpClient client, string endpoint, HttpStatusCode expected) =>
        Polling.UntilAsync(
            async () =>
            {
                using var response = await Infer(client, endpoint, V2Body(Row));
                return response.StatusCode;
            },
            status => status == expected);

    /// <summary>
    /// A second host on the first one's database and artifact folder, its outbox dispatcher idle,
    /// calling as the viewer (the first host's token: the hosts share signing keys).
    /// </summary>
    private static async Task<InProcessHost> SecondHostAsync(PlatformFactory factory, WorkflowTestAccounts api, params (string Key, string Value)[] settings)
    {
        var directory = Path.Combine(Path.GetTempPath(), "mlp-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var configuration = new Dictionary<string, string?>
        {
            ["Storage:Local:Path"] = Path.Combine(factory.DataDirectory, "artifacts"),
            ["Messaging:Outbox:PollInterval"] = "00:10:00",
            ["Gateway:RateLimits:Enabled"] = "false",
        };
        foreach (var (key, value) in settings)
        {
            configuration[key] = value;
        }

        var host = await InProcessHost.StartAsync(DatabaseProvider.PostgreSql, directory, factory.PostgresConnectionString, [], configuration);
        host.Client.DefaultRequestHeaders.Authorization = api.Viewer.DefaultRequestHeaders.Authorization;
        return host;
    }
}
