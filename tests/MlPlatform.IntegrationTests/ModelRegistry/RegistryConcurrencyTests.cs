using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>
/// Writes that judge a version's state, racing each other: archive, approve and reject against
/// alias moves onto the same version. Every outcome must be one that some serial order of the two
/// requests gives; the losers answer 409 with problem details, never 500.
/// </summary>
public sealed class RegistryConcurrencyTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    private const int Pairs = 12;

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static Task<HttpResponseMessage> Move(HttpClient client, string project, string name, string alias, int version) =>
        client.PutAsJsonAsync($"/api/v1/projects/{project}/models/{name}/aliases/{alias}", new { version });

    private static Task<HttpResponseMessage> Archive(HttpClient client, string project, string name, int version) =>
        client.PostAsync($"/api/v1/projects/{project}/models/{name}/versions/{version}/archive", null);

    private static Task<HttpResponseMessage> Decide(HttpClient client, string project, string name, int version, string decision) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/models/{name}/versions/{version}/{decision}", new { comment = "raced" });

    /// <summary>Starts both requests of every pair at once and returns their answers, pair by pair.</summary>
    private static async Task<(HttpResponseMessage First, HttpResponseMessage Second)[]> Race(Func<int, Task<HttpResponseMessage>> first, Func<int, Task<HttpResponseMessage>> second)
    {
        using var start = new SemaphoreSlim(0);
        var pairs = Enumerable.Range(1, Pairs).Select(async i =>
        {
            await start.WaitAsync();
            var a = first(i);
            var b = second(i);
            return (await a, await b);
        }).ToList();
        start.Release(Pairs);
        return await Task.WhenAll(pairs);
    }

    private static async Task<List<JsonElement>> Versions(WorkflowTestAccounts api, string name) =>
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions?includeArchived=true&limit=200"), HttpStatusCode.OK))
            .GetProperty("items").EnumerateArray().ToList();

    /// <summary>The alias's moves; none (404) when it never existed.</summary>
    private static async Task<List<JsonElement>> History(WorkflowTestAccounts api, string name, string alias)
    {
        var response = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/{alias}/history");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            await Problem(response, HttpStatusCode.NotFound);
            return [];
        }

        return (await Json(response, HttpStatusCode.OK)).EnumerateArray().ToList();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_archive_and_alias_move_onto_one_version_at_once_Then_exactly_one_wins_and_no_alias_points_at_an_archived_version(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, Pairs);

        var answers = await Race(i => Move(api.Maintainer, api.Project, name, $"a{i}", i), i => Archive(api.Maintainer, api.Project, name, i));

        var versions = await Versions(api, name);
        var aliases = (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases"), HttpStatusCode.OK))
            .EnumerateArray().ToDictionary(a => a.GetProperty("alias").GetString()!, a => a.GetProperty("version").GetInt32());
        for (var i = 1; i <= Pairs; i++)
        {
            var (move, archive) = answers[i - 1];
            var moved = move.StatusCode == HttpStatusCode.OK;
            var archived = archive.StatusCode == HttpStatusCode.OK;
            // One serial order or the other: the move then a refused archive, or the archive then a refused move.
            (moved ^ archived).ShouldBeTrue($"pair {i}: move {move.StatusCode}, archive {archive.StatusCode}");
            await Problem(moved ? archive : move, HttpStatusCode.Conflict);
            var version = versions.Single(v => v.GetProperty("version").GetInt32() == i);
            (version.GetProperty("archivedAt").ValueKind == JsonValueKind.String).ShouldBe(archived, $"version {i}");
            aliases.ContainsKey($"a{i}").ShouldBe(moved, $"alias a{i}");
            (await History(api, name, $"a{i}")).Count.ShouldBe(moved ? 1 : 0);
        }

        foreach (var (alias, version) in aliases)
        {
            versions.Single(v => v.GetProperty("version").GetInt32() == version).GetProperty("archivedAt").ValueKind.ShouldBe(JsonValueKind.Null, $"{alias} points at an archived version");
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_reject_and_alias_move_onto_one_version_at_once_Then_exactly_one_wins_and_no_alias_points_at_a_rejected_version(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        // The maintainer registers, the admin (an approver) rejects: the two-person rule holds.
        var name = await ModelWithVersions(api.Maintainer, api.Project, Pairs);

        var answers = await Race(i => Move(api.Maintainer, api.Project, name, $"r{i}", i), i => Decide(api.Admin, api.Project, name, i, "reject"));

        var versions = await Versions(api, name);
        for (var i = 1; i <= Pairs; i++)
        {
            var (move, reject) = answers[i - 1];
            var moved = move.StatusCode == HttpStatusCode.OK;
            var rejected = reject.StatusCode == HttpStatusCode.OK;
            // The move then a refused rejection (an alias points at it), or the rejection then a refused move.
            (moved ^ rejected).ShouldBeTrue($"pair {i}: move {move.StatusCode}, reject {reject.StatusCode}");
            await Problem(moved ? reject : move, HttpStatusCode.Conflict);
            var version = versions.Single(v => v.GetProperty("version").GetInt32() == i);
            version.GetProperty("status").GetString().ShouldBe(rejected ? "rejected" : "pending");
            var alias = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/r{i}");
            alias.StatusCode.ShouldBe(moved ? HttpStatusCode.OK : HttpStatusCode.NotFound);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_approval_and_protected_alias_move_onto_one_version_at_once_Then_the_protected_alias_only_ever_points_at_an_approved_version(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, Pairs, protectedAliases: Enumerable.Range(1, Pairs).Select(i => $"c{i}").ToArray());

        var answers = await Race(i => Move(api.Admin, api.Project, name, $"c{i}", i), i => Decide(api.Admin, api.Project, name, i, "approve"));

        var versions = await Versions(api, name);
        for (var i = 1; i <= Pairs; i++)
        {
            var (move, approve) = answers[i - 1];
            await Json(approve, HttpStatusCode.OK);
            var version = versions.Single(v => v.GetProperty("version").GetInt32() == i);
            version.GetProperty("status").GetString().ShouldBe("approved");
            var history = await History(api, name, $"c{i}");
            if (move.StatusCode == HttpStatusCode.OK)
            {
                // Only "approve, then move" is allowed: the move came after the decision.
                history.Single().GetProperty("movedAt").GetDateTimeOffset().ShouldBeGreaterThanOrEqualTo(version.GetProperty("decidedAt").GetDateTimeOffset(), $"pair {i}");
            }
            else
            {
                (await Problem(move, HttpStatusCode.Conflict)).GetProperty("detail").GetString()!.ShouldContain("protected");
                history.ShouldBeEmpty();
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_move_and_making_that_alias_protected_at_once_Then_one_serial_order_wins_and_no_unapproved_move_lands_after_the_protection(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        // One model per pair, each with a pending version registered by the maintainer. Odd pairs:
        // the maintainer (no approver right) moves; even pairs: the admin (an approver) moves.
        var names = new string[Pairs];
        for (var i = 0; i < Pairs; i++)
        {
            names[i] = await ModelWithVersions(api.Maintainer, api.Project, 1);
        }

        HttpClient Mover(int i) => i % 2 == 1 ? api.Maintainer : api.Admin;
        var answers = await Race(
            i => Move(Mover(i), api.Project, names[i - 1], "champion", 1),
            i => api.Admin.PutAsJsonAsync($"/api/v1/projects/{api.Project}/models/{names[i - 1]}", new { protectedAliases = new[] { "champion" } }));

        for (var i = 1; i <= Pairs; i++)
        {
            var (move, protect) = answers[i - 1];
            var moved = move.StatusCode == HttpStatusCode.OK;
            var protectedNow = protect.StatusCode == HttpStatusCode.OK;
            // Move then protect: the protection is refused (the alias is on a pending version).
            // Protect then move: the move is refused — 403 for the maintainer, 409 (pending) for the approver.
            (moved ^ protectedNow).ShouldBeTrue($"pair {i}: move {move.StatusCode}, protect {protect.StatusCode}");
            if (moved)
            {
                (await Problem(protect, HttpStatusCode.Conflict)).GetProperty("detail").GetString()!.ShouldContain("approved");
            }
            else
            {
                await Problem(move, i % 2 == 1 ? HttpStatusCode.Forbidden : HttpStatusCode.Conflict);
            }

            var model = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{names[i - 1]}"), HttpStatusCode.OK);
            model.GetProperty("protectedAliases").EnumerateArray().Select(a => a.GetString()).Contains("champion").ShouldBe(protectedNow, $"pair {i}");
            // The alias exists exactly when the move won, and then only that one move is in its history.
            (await History(api, names[i - 1], "champion")).Count.ShouldBe(moved ? 1 : 0, $"pair {i}");
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_delete_by_a_maintainer_and_making_that_alias_protected_at_once_Then_no_unauthorized_delete_lands_after_the_protection(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        // Each model's champion points at an approved version, so protecting it is allowed.
        var names = new string[Pairs];
        for (var i = 0; i < Pairs; i++)
        {
            names[i] = await ModelWithVersions(api.Maintainer, api.Project, 1);
            await Json(await Decide(api.Admin, api.Project, names[i], 1, "approve"), HttpStatusCode.OK);
            await Json(await Move(api.Maintainer, api.Project, names[i], "champion", 1), HttpStatusCode.OK);
        }

        var answers = await Race(
            i => api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/models/{names[i - 1]}/aliases/champion"),
            i => api.Admin.PutAsJsonAsync($"/api/v1/projects/{api.Project}/models/{names[i - 1]}", new { protectedAliases = new[] { "champion" } }));

        for (var i = 1; i <= Pairs; i++)
        {
            var (delete, protect) = answers[i - 1];
            await Json(protect, HttpStatusCode.OK);
            var history = await History(api, names[i - 1], "champion");
            if (delete.StatusCode == HttpStatusCode.NoContent)
            {
                // Delete, then protect: allowed in that order only; the deletion is in the history,
                // timed (under the model row's lock) no later than the protection.
                history.Count.ShouldBe(2, $"pair {i}");
                history[1].GetProperty("toVersion").ValueKind.ShouldBe(JsonValueKind.Null);
                var model = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{names[i - 1]}"), HttpStatusCode.OK);
                history[1].GetProperty("movedAt").GetDateTimeOffset().ShouldBeLessThanOrEqualTo(model.GetProperty("updatedAt").GetDateTimeOffset(), $"pair {i}");
            }
            else
            {
                // Protect, then delete: the maintainer may not delete a protected alias.
                await Problem(delete, HttpStatusCode.Forbidden);
                history.Count.ShouldBe(1, $"pair {i}");
                (await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{names[i - 1]}/aliases/champion")).StatusCode.ShouldBe(HttpStatusCode.OK);
            }
        }
    }
}
