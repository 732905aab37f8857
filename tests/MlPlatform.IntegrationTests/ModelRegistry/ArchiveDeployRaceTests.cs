using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.IntegrationTests.Predictions;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.SharedKernel.Persistence;
using Xunit.Abstractions;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>
/// The real host with Predictions serving (not the registry tests' stand-in), and one change: for
/// models named <c>stale-*</c> the resolver Predictions uses does not say that a version is
/// archived, as a read made just before the archive committed would not. That replays, on demand,
/// the interleaving the post-commit claim exists for (resolved before the archive, committed after).
/// </summary>
public sealed class ArchiveDeployHostsFixture : PredictionHostsFixture
{
    public const string StalePrefix = "stale-";

    protected override void ConfigureServices(IServiceCollection services)
    {
        var real = services.Last(d => d.ServiceType == typeof(IModelVersionResolver));
        services.Remove(real);
        services.AddScoped<IModelVersionResolver>(sp =>
            new StaleArchiveResolver((IModelVersionResolver)ActivatorUtilities.CreateInstance(sp, real.ImplementationType!)));
    }

    private sealed class StaleArchiveResolver(IModelVersionResolver inner) : IModelVersionResolver
    {
        public async Task<ResolvedModelVersion?> ResolveAsync(Guid projectId, string model, string versionOrAlias, CancellationToken cancellationToken = default)
        {
            var resolved = await inner.ResolveAsync(projectId, model, versionOrAlias, cancellationToken);
            return resolved is not null && model.StartsWith(StalePrefix, StringComparison.Ordinal) ? resolved with { ArchivedAt = null } : resolved;
        }
    }
}

/// <summary>
/// Archiving a version racing an endpoint that starts to serve it (create or update), through the
/// HTTP API on both databases. Whatever the interleaving: never both succeed, every answer is 2xx
/// or a 409 problem (never 500), and afterwards no endpoint variant pins an archived version.
/// </summary>
public sealed class ArchiveDeployRaceTests(ArchiveDeployHostsFixture hosts, ITestOutputHelper output) : IClassFixture<ArchiveDeployHostsFixture>
{
    private const int Pairs = 16;

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static Task<HttpResponseMessage> Archive(HttpClient client, string project, string model, int version) =>
        client.PostAsync($"/api/v1/projects/{project}/models/{model}/versions/{version}/archive", null);

    private static object Spec(string endpoint, string model, int version) =>
        new { name = endpoint, variants = new object[] { new { model, version } } };

    /// <summary>Starts both requests of every pair at once and returns their answers, pair by pair.</summary>
    private static async Task<(HttpResponseMessage Deploy, HttpResponseMessage Archive)[]> Race(Func<int, Task<HttpResponseMessage>> deploy, Func<int, Task<HttpResponseMessage>> archive)
    {
        using var start = new SemaphoreSlim(0);
        var pairs = Enumerable.Range(1, Pairs).Select(async i =>
        {
            await start.WaitAsync();
            var d = deploy(i);
            var a = archive(i);
            return (await d, await a);
        }).ToList();
        start.Release(Pairs);
        return await Task.WhenAll(pairs);
    }

    private static async Task<HashSet<int>> ArchivedVersions(WorkflowTestAccounts api, string model) =>
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/versions?includeArchived=true&limit=200"), HttpStatusCode.OK))
            .GetProperty("items").EnumerateArray()
            .Where(v => v.GetProperty("archivedAt").ValueKind == JsonValueKind.String)
            .Select(v => v.GetProperty("version").GetInt32())
            .ToHashSet();

    /// <summary>The invariant: no endpoint of the project has a variant on an archived version of the model.</summary>
    private static async Task AssertNoEndpointServesAnArchivedVersion(WorkflowTestAccounts api, string model)
    {
        var archived = await ArchivedVersions(api, model);
        var endpoints = (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints?limit=200"), HttpStatusCode.OK)).GetProperty("items").EnumerateArray().ToList();
        foreach (var endpoint in endpoints)
        {
            foreach (var variant in endpoint.GetProperty("variants").EnumerateArray().Where(v => v.GetProperty("model").GetString() == model))
            {
                archived.ShouldNotContain(variant.GetProperty("version").GetInt32(), $"endpoint {endpoint.GetProperty("name").GetString()} serves an archived version");
            }
        }
    }

    private static async Task AssertConflictOrSuccess(HttpResponseMessage response, HttpStatusCode success, string what)
    {
        if (response.StatusCode != success)
        {
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.Conflict, $"{what}: {text}");
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_archive_and_endpoint_create_on_one_version_at_once_Then_never_both_succeed_and_no_endpoint_serves_an_archived_version(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api.Maintainer, api.Project, Pairs);
        var endpoints = Enumerable.Range(1, Pairs).Select(i => NewName($"race{i}")).ToArray();

        var answers = await Race(
            i => PredictionApi.Create(api.Maintainer, api.Project, Spec(endpoints[i - 1], model, i)),
            i => Archive(api.Maintainer, api.Project, model, i));

        var archived = await ArchivedVersions(api, model);
        var created = 0;
        for (var i = 1; i <= Pairs; i++)
        {
            var (create, archive) = answers[i - 1];
            await AssertConflictOrSuccess(create, HttpStatusCode.Created, $"create {i}");
            await AssertConflictOrSuccess(archive, HttpStatusCode.OK, $"archive {i}");
            var deployed = create.StatusCode == HttpStatusCode.Created;
            var wasArchived = archive.StatusCode == HttpStatusCode.OK;
            // One serial order or the other: never both; and a lone pair does not refuse both either.
            (deployed ^ wasArchived).ShouldBeTrue($"pair {i}: create {create.StatusCode}, archive {archive.StatusCode}");
            archived.Contains(i).ShouldBe(wasArchived, $"version {i}");
            // A refused create left no endpoint behind (it was taken back if it had committed).
            (await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoints[i - 1]}")).StatusCode
                .ShouldBe(deployed ? HttpStatusCode.OK : HttpStatusCode.NotFound, $"endpoint {i}");
            created += deployed ? 1 : 0;
        }

        output.WriteLine($"{provider}: {created} creates won, {Pairs - created} archives won");
        await AssertNoEndpointServesAnArchivedVersion(api, model);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_archive_and_endpoint_update_onto_one_version_at_once_Then_never_both_succeed_and_a_refused_update_leaves_the_endpoint_as_it_was(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        // Version Pairs + 1 is what every endpoint serves first; version i is what pair i moves it to.
        var model = await ModelWithVersions(api.Maintainer, api.Project, Pairs + 1);
        var endpoints = new string[Pairs];
        for (var i = 0; i < Pairs; i++)
        {
            endpoints[i] = NewName($"upd{i + 1}");
            await Json(await PredictionApi.Create(api.Maintainer, api.Project, Spec(endpoints[i], model, Pairs + 1)), HttpStatusCode.Created);
        }

        var answers = await Race(
            i => api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoints[i - 1]}", Spec(endpoints[i - 1], model, i)),
            i => Archive(api.Maintainer, api.Project, model, i));

        var archived = await ArchivedVersions(api, model);
        for (var i = 1; i <= Pairs; i++)
        {
            var (update, archive) = answers[i - 1];
            await AssertConflictOrSuccess(update, HttpStatusCode.OK, $"update {i}");
            await AssertConflictOrSuccess(archive, HttpStatusCode.OK, $"archive {i}");
            var updated = update.StatusCode == HttpStatusCode.OK;
            (updated ^ (archive.StatusCode == HttpStatusCode.OK)).ShouldBeTrue($"pair {i}: update {update.StatusCode}, archive {archive.StatusCode}");
            archived.Contains(i).ShouldBe(!updated, $"version {i}");
            var endpoint = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoints[i - 1]}"), HttpStatusCode.OK);
            endpoint.GetProperty("variants").EnumerateArray().Single().GetProperty("version").GetInt32().ShouldBe(updated ? i : Pairs + 1, $"endpoint {i}");
        }

        await AssertNoEndpointServesAnArchivedVersion(api, model);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_create_that_resolved_a_version_before_it_was_archived_When_it_commits_after_Then_409_and_the_endpoint_is_taken_back(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("stale");
        await Json(await CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        await Json(await UploadRaw(api.Maintainer, api.Project, model, Model(0)), HttpStatusCode.Created);
        await Json(await Archive(api.Maintainer, api.Project, model, 1), HttpStatusCode.OK);
        var endpoint = NewName("late");

        var refused = await Problem(await PredictionApi.Create(api.Maintainer, api.Project, Spec(endpoint, model, 1)), HttpStatusCode.Conflict);

        refused.GetProperty("detail").GetString()!.ShouldContain("archived while the endpoint was being written");
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.NotFound);
        await AssertNoEndpointServesAnArchivedVersion(api, model);
        // The name is free again.
        await Json(await PredictionApi.Create(api.Maintainer, api.Project, Spec(endpoint, (await ModelWithVersions(api.Maintainer, api.Project, 1)), 1)), HttpStatusCode.Created);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_update_that_resolved_a_version_before_it_was_archived_When_it_commits_after_Then_409_and_the_endpoint_is_as_before(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("stale");
        await Json(await CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        for (var i = 0; i < 3; i++)
        {
            await Json(await UploadRaw(api.Maintainer, api.Project, model, Model(i)), HttpStatusCode.Created);
        }

        var endpoint = NewName("ab");
        await Json(await PredictionApi.Create(api.Maintainer, api.Project, new
        {
            name = endpoint,
            description = "before",
            variants = new object[] { new { name = "a", model, version = 1, weight = 70 }, new { name = "b", model, version = 2, weight = 30 } },
        }), HttpStatusCode.Created);
        var before = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.OK);
        await Json(await Archive(api.Maintainer, api.Project, model, 3), HttpStatusCode.OK);

        var refused = await Problem(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}", new
        {
            name = endpoint,
            description = "after",
            variants = new object[] { new { name = "a", model, version = 1, weight = 50 }, new { name = "c", model, version = 3, weight = 50 } },
        }), HttpStatusCode.Conflict);

        refused.GetProperty("detail").GetString()!.ShouldContain("archived");
        var after = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.OK);
        after.GetProperty("description").GetString().ShouldBe("before");
        after.GetProperty("variants").EnumerateArray().Select(v => (v.GetProperty("name").GetString(), v.GetProperty("version").GetInt32(), v.GetProperty("weight").GetInt32()))
            .OrderBy(v => v.Item1).ShouldBe([("a", 1, 70), ("b", 2, 30)]);
        // Taken back as a change of its own, so hosts that loaded the refused table reload.
        after.GetProperty("revision").GetInt64().ShouldBe(before.GetProperty("revision").GetInt64() + 2);
        await AssertNoEndpointServesAnArchivedVersion(api, model);
        // And it still serves.
        var answer = await PredictionApi.Infer(api.Maintainer, endpoint, PredictionApi.V2Body([1f, 2f, 3f]), variant: "b");
        answer.StatusCode.ShouldBe(HttpStatusCode.OK, await answer.Content.ReadAsStringAsync());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_version_served_by_an_endpoint_Then_its_lineage_lists_the_endpoint_and_archiving_is_409_until_the_endpoint_is_deleted(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api.Maintainer, api.Project, 1);
        var endpoint = await PredictionApi.Endpoint(api, name => Spec(name, model, 1));
        var lineagePath = $"/api/v1/projects/{api.Project}/models/{model}/versions/1/lineage";

        var lineage = await Json(await api.Viewer.GetAsync(lineagePath), HttpStatusCode.OK);
        var served = lineage.GetProperty("endpoints").EnumerateArray().Single();
        served.GetProperty("endpoint").GetString().ShouldBe(endpoint);
        served.GetProperty("variant").GetString().ShouldBe(model);
        (await Problem(await Archive(api.Maintainer, api.Project, model, 1), HttpStatusCode.Conflict)).GetProperty("detail").GetString()!.ShouldContain(endpoint);

        (await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        (await Json(await Archive(api.Maintainer, api.Project, model, 1), HttpStatusCode.OK)).GetProperty("archivedAt").ValueKind.ShouldBe(JsonValueKind.String);
        (await Json(await api.Viewer.GetAsync(lineagePath), HttpStatusCode.OK)).GetProperty("endpoints").GetArrayLength().ShouldBe(0);
    }
}
