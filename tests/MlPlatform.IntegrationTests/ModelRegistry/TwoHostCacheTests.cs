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
}
