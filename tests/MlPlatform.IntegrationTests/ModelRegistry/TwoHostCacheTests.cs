using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>Two hosts on one PostgreSQL database, each with its own version lookup cache.</summary>
public sealed class TwoHostCacheTests
{
    [Fact]
    public async Task Given_alias_cached_on_a_second_host_When_the_first_host_moves_it_Then_the_second_host_answers_the_new_version()
    {
        var settings = new Dictionary<string, string?> { ["ModelRegistry:LookupCacheTtl"] = "00:00:01" };
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.PostgreSql, settings);
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        var secondDirectory = Path.Combine(Path.GetTempPath(), "mlp-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(secondDirectory);
        await using var second = await InProcessHost.StartAsync(DatabaseProvider.PostgreSql, secondDirectory, factory.PostgresConnectionString, [], settings);
        // The viewer's token, issued by the first host, is accepted by the second (shared signing keys).
        second.Client.DefaultRequestHeaders.Authorization = api.Viewer.DefaultRequestHeaders.Authorization;

        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        await Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/live", new { version = 1 }), HttpStatusCode.OK);
        var path = $"/api/v1/projects/{api.Project}/models/{name}/aliases/live/version";
        (await Json(await second.Client.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);

        await Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/live", new { version = 2 }), HttpStatusCode.OK);

        // The move's event goes to one of the two hosts; the other forgets its entry when it expires.
        var clock = Stopwatch.StartNew();
        int seen;
        do
        {
            seen = (await Json(await second.Client.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32();
            if (seen != 2)
            {
                await Task.Delay(100);
            }
        }
        while (seen != 2 && clock.Elapsed < TimeSpan.FromSeconds(15));

        seen.ShouldBe(2);
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(2);
        await Problem(await second.Client.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/none/version"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Given_reads_cached_on_a_second_host_that_is_not_delivered_the_events_When_the_first_host_changes_the_model_Then_the_second_host_follows_through_the_outbox()
    {
        // Entries would outlive the test: the second host can only answer anew because it forgot them.
        var first = new Dictionary<string, string?> { ["ModelRegistry:LookupCacheTtl"] = "00:10:00" };
        // The second host's dispatcher idles (its own commits aside), so the first host's events are
        // delivered by the first host: the second sees them only by following the outbox table.
        var secondSettings = new Dictionary<string, string?>(first) { ["Messaging:Outbox:PollInterval"] = "00:10:00" };
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.PostgreSql, first);
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        var secondDirectory = Path.Combine(Path.GetTempPath(), "mlp-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(secondDirectory);
        await using var second = await InProcessHost.StartAsync(DatabaseProvider.PostgreSql, secondDirectory, factory.PostgresConnectionString, [], secondSettings);
        second.Client.DefaultRequestHeaders.Authorization = api.Viewer.DefaultRequestHeaders.Authorization;

        var name = await ModelWithVersions(api.Maintainer, api.Project, 3);
        var models = $"/api/v1/projects/{api.Project}/models/{name}";
        await Json(await api.Maintainer.PutAsJsonAsync($"{models}/aliases/live", new { version = 1 }), HttpStatusCode.OK);
        var byAlias = $"{models}/aliases/live/version";
        (await Json(await second.Client.GetAsync(byAlias), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);

        // Two moves in a row, each seen on the second host.
        foreach (var version in new[] { 2, 3 })
        {
            await Json(await api.Maintainer.PutAsJsonAsync($"{models}/aliases/live", new { version }), HttpStatusCode.OK);
            (await Eventually(second.Client, byAlias, v => v.GetProperty("version").GetInt32() == version)).ShouldBeTrue($"the move to {version}");
        }

        // A decision (contract event) and an archive (the registry's own event) change a read by number.
        (await Json(await second.Client.GetAsync($"{models}/versions/2"), HttpStatusCode.OK)).GetProperty("status").GetString().ShouldBe("pending");
        await Json(await api.Admin.PostAsJsonAsync($"{models}/versions/2/approve", new { comment = "ok" }), HttpStatusCode.OK);
        (await Eventually(second.Client, $"{models}/versions/2", v => v.GetProperty("status").GetString() == "approved")).ShouldBeTrue("the approval");

        (await Json(await second.Client.GetAsync($"{models}/versions/1"), HttpStatusCode.OK)).GetProperty("archivedAt").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Null);
        await Json(await api.Maintainer.PostAsync($"{models}/versions/1/archive", null), HttpStatusCode.OK);
        (await Eventually(second.Client, $"{models}/versions/1", v => v.GetProperty("archivedAt").ValueKind == System.Text.Json.JsonValueKind.String)).ShouldBeTrue("the archive");
    }

    /// <summary>Reads until the answer satisfies <paramref name="done"/>, for at most 15 s (far below the 10 min TTL).</summary>
    private static async Task<bool> Eventually(HttpClient client, string path, Func<System.Text.Json.JsonElement, bool> done) =>
        done(await Polling.UntilAsync(async () => await Json(await client.GetAsync(path), HttpStatusCode.OK), done));
}
