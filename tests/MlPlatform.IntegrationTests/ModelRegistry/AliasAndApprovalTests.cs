using System.Net;
using System.Net.Http.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

public sealed class AliasAndApprovalTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static Task<HttpResponseMessage> Move(HttpClient client, string project, string name, string alias, int version) =>
        client.PutAsJsonAsync($"/api/v1/projects/{project}/models/{name}/aliases/{alias}", new { version });

    private static Task<HttpResponseMessage> Decide(HttpClient client, string project, string name, int version, string decision, string comment = "looks good") =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/models/{name}/versions/{version}/{decision}", new { comment });

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_When_moved_and_deleted_Then_it_points_at_the_latest_move_and_history_has_every_move(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 3);

        (await Json(await Move(api.Maintainer, api.Project, name, "challenger", 1), HttpStatusCode.OK)).GetProperty("revision").GetInt64().ShouldBe(1);
        await Json(await Move(api.Maintainer, api.Project, name, "challenger", 3), HttpStatusCode.OK);
        await Json(await Move(api.Maintainer, api.Project, name, "staging", 2), HttpStatusCode.OK);

        var alias = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/challenger"), HttpStatusCode.OK);
        alias.GetProperty("version").GetInt32().ShouldBe(3);
        var all = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases"), HttpStatusCode.OK);
        all.EnumerateArray().Select(a => (a.GetProperty("alias").GetString(), a.GetProperty("version").GetInt32())).ShouldBe([("challenger", 3), ("staging", 2)]);

        (await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/challenger")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/challenger"), HttpStatusCode.NotFound);

        var history = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/challenger/history"), HttpStatusCode.OK);
        history.EnumerateArray().Select(h => (h.GetProperty("revision").GetInt64(), Version(h, "fromVersion"), Version(h, "toVersion")))
            .ShouldBe([(1L, null, 1), (2L, 1, 3), (3L, 3, null)]);
    }

    private static int? Version(System.Text.Json.JsonElement entry, string property) =>
        entry.GetProperty(property).ValueKind == System.Text.Json.JsonValueKind.Null ? null : entry.GetProperty(property).GetInt32();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_alias_requests_Then_400_404_and_403(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 1);

        await Problem(await Move(api.Maintainer, api.Project, name, "champion", 9), HttpStatusCode.NotFound);
        await Problem(await Move(api.Maintainer, api.Project, name, "1st", 1), HttpStatusCode.BadRequest);
        await Problem(await Move(api.Viewer, api.Project, name, "champion", 1), HttpStatusCode.Forbidden);
        await Problem(await Move(api.Outsider, api.Project, name, "champion", 1), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/nothing"), HttpStatusCode.NotFound);
        // An alias that never existed has no history either: 404, not an empty list.
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/nothing/history"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_concurrent_moves_of_one_alias_Then_history_has_every_move_and_the_alias_equals_the_last(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        const int versions = 8;
        var name = await ModelWithVersions(api.Maintainer, api.Project, versions);
        await Json(await Move(api.Maintainer, api.Project, name, "live", 1), HttpStatusCode.OK);

        // Versions 2..8 at once: all differ from each other and from the start, so each is a real move.
        var responses = await Task.WhenAll(Enumerable.Range(2, versions - 1).Select(v => Move(api.Maintainer, api.Project, name, "live", v)));
        foreach (var response in responses)
        {
            await Json(response, HttpStatusCode.OK);
        }

        var history = (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/live/history"), HttpStatusCode.OK))
            .EnumerateArray().ToList();
        history.Count.ShouldBe(versions);
        history.Select(h => h.GetProperty("revision").GetInt64()).ShouldBe(Enumerable.Range(1, versions).Select(r => (long)r));
        history.Skip(1).Select(h => h.GetProperty("toVersion").GetInt32()).Order().ShouldBe(Enumerable.Range(2, versions - 1));
        // A chain: each move starts where the one before it ended, so none was built on a stale read.
        for (var i = 1; i < history.Count; i++)
        {
            history[i].GetProperty("fromVersion").GetInt32().ShouldBe(history[i - 1].GetProperty("toVersion").GetInt32());
        }

        var alias = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/live"), HttpStatusCode.OK);
        alias.GetProperty("version").GetInt32().ShouldBe(history[^1].GetProperty("toVersion").GetInt32());
        alias.GetProperty("revision").GetInt64().ShouldBe(versions);

        using var scope = api.Factory.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>();
        var events = await db.OutboxMessages.Where(m => m.Type.EndsWith(".AliasMoved") && m.Payload.Contains($"\"model\":\"{name}\"")).CountAsync();
        events.ShouldBe(versions);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_pending_version_When_another_approver_approves_Then_approved_and_a_second_decision_is_409(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 1);

        var approved = await Json(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.OK);

        approved.GetProperty("status").GetString().ShouldBe("approved");
        approved.GetProperty("decisionComment").GetString().ShouldBe("looks good");
        await Problem(await Decide(api.Admin, api.Project, name, 1, "reject"), HttpStatusCode.Conflict);
        await Problem(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.Conflict);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions?status=approved"), HttpStatusCode.OK))
            .GetProperty("total").GetInt32().ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_two_person_rule_When_registrant_approves_own_version_Then_403(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        // The admin is an approver and registers the version itself.
        var name = await ModelWithVersions(api.Admin, api.Project, 1);

        await Problem(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.Forbidden);
        await Problem(await Decide(api.Admin, api.Project, name, 1, "reject"), HttpStatusCode.Forbidden);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1"), HttpStatusCode.OK))
            .GetProperty("status").GetString().ShouldBe("pending");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_caller_without_approver_right_When_deciding_Then_403(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Admin, api.Project, 1);

        await Problem(await Decide(api.Maintainer, api.Project, name, 1, "approve"), HttpStatusCode.Forbidden);
        await Problem(await Decide(api.Viewer, api.Project, name, 1, "reject"), HttpStatusCode.Forbidden);
        await Problem(await Decide(api.Outsider, api.Project, name, 1, "approve"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_protected_alias_Then_only_approvers_move_it_and_only_to_approved_versions(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 3, protectedAliases: ["champion"]);
        await Json(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.OK);
        await Json(await Decide(api.Admin, api.Project, name, 2, "reject", "worse on holdout"), HttpStatusCode.OK);

        await Problem(await Move(api.Maintainer, api.Project, name, "champion", 1), HttpStatusCode.Forbidden);
        await Problem(await Move(api.Admin, api.Project, name, "champion", 3), HttpStatusCode.Conflict); // pending
        await Problem(await Move(api.Admin, api.Project, name, "champion", 2), HttpStatusCode.Conflict); // rejected
        var moved = await Json(await Move(api.Admin, api.Project, name, "champion", 1), HttpStatusCode.OK);
        moved.GetProperty("protected").GetBoolean().ShouldBeTrue();
        await Problem(await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/champion"), HttpStatusCode.Forbidden);

        // Unprotected aliases take pending versions, never rejected ones.
        await Json(await Move(api.Maintainer, api.Project, name, "challenger", 3), HttpStatusCode.OK);
        await Problem(await Move(api.Maintainer, api.Project, name, "challenger", 2), HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_on_a_pending_version_When_the_version_is_rejected_Then_409_until_the_alias_moves_on(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        await Json(await Move(api.Maintainer, api.Project, name, "challenger", 2), HttpStatusCode.OK);

        // Rejecting it would leave the alias on a rejected version, which no alias may point to.
        var refused = await Problem(await Decide(api.Admin, api.Project, name, 2, "reject"), HttpStatusCode.Conflict);
        refused.GetProperty("detail").GetString()!.ShouldContain("challenger");
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/2"), HttpStatusCode.OK))
            .GetProperty("status").GetString().ShouldBe("pending");

        await Json(await Move(api.Maintainer, api.Project, name, "challenger", 1), HttpStatusCode.OK);
        (await Json(await Decide(api.Admin, api.Project, name, 2, "reject"), HttpStatusCode.OK)).GetProperty("status").GetString().ShouldBe("rejected");
        // Approving is not held up by aliases: an approved version may keep them.
        await Json(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_on_a_pending_version_When_it_is_made_protected_Then_409_until_the_version_is_approved(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 1);
        await Json(await Move(api.Maintainer, api.Project, name, "champion", 1), HttpStatusCode.OK);
        var path = $"/api/v1/projects/{api.Project}/models/{name}";

        // Protecting it now would leave a protected alias on a version no approver approved.
        var refused = await Problem(await api.Admin.PutAsJsonAsync(path, new { protectedAliases = new[] { "champion" } }), HttpStatusCode.Conflict);
        refused.GetProperty("detail").GetString()!.ShouldContain("'champion' points at version 1 (pending)");
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("protectedAliases").GetArrayLength().ShouldBe(0);

        await Json(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.OK);
        (await Json(await api.Admin.PutAsJsonAsync(path, new { protectedAliases = new[] { "champion" } }), HttpStatusCode.OK))
            .GetProperty("protectedAliases").EnumerateArray().Select(a => a.GetString()).ShouldBe(["champion"]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_model_When_protected_aliases_change_Then_approver_only(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 0);
        var path = $"/api/v1/projects/{api.Project}/models/{name}";

        await Problem(await api.Maintainer.PutAsJsonAsync(path, new { protectedAliases = new[] { "champion" } }), HttpStatusCode.Forbidden);
        var updated = await Json(await api.Admin.PutAsJsonAsync(path, new { protectedAliases = new[] { "champion" }, tags = new[] { "prod" } }), HttpStatusCode.OK);
        updated.GetProperty("protectedAliases").EnumerateArray().Select(a => a.GetString()).ShouldBe(["champion"]);
        // Description and tags stay open to maintainers; sending the same protected set changes nothing.
        var described = await Json(await api.Maintainer.PutAsJsonAsync(path, new { description = "new", tags = new[] { "prod", "v2" }, protectedAliases = new[] { "champion" } }), HttpStatusCode.OK);
        described.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ShouldBe(["prod", "v2"]);
        described.GetProperty("description").GetString().ShouldBe("new");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_decisions_When_committed_Then_approved_and_rejected_events_are_in_the_outbox(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        await Json(await Decide(api.Admin, api.Project, name, 1, "approve"), HttpStatusCode.OK);
        await Json(await Decide(api.Admin, api.Project, name, 2, "reject"), HttpStatusCode.OK);

        using var scope = api.Factory.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>();
        var types = await db.OutboxMessages.Where(m => m.Payload.Contains($"\"model\":\"{name}\"")).Select(m => m.Type).ToListAsync();
        types.Count(t => t.EndsWith(".ModelVersionRegistered", StringComparison.Ordinal)).ShouldBe(2);
        types.Count(t => t.EndsWith(".ModelVersionApproved", StringComparison.Ordinal)).ShouldBe(1);
        types.Count(t => t.EndsWith(".ModelVersionRejected", StringComparison.Ordinal)).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_When_resolved_over_HTTP_and_through_the_contract_Then_the_version_it_points_to(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        await Json(await Move(api.Maintainer, api.Project, name, "challenger", 2), HttpStatusCode.OK);

        var version = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/challenger/version"), HttpStatusCode.OK);
        version.GetProperty("version").GetInt32().ShouldBe(2);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/nothing/version"), HttpStatusCode.NotFound);

        var projectId = (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}"), HttpStatusCode.OK)).GetProperty("id").GetGuid();
        using var scope = api.Factory.Services.CreateScope();
        var resolver = scope.ServiceProvider.GetRequiredService<MlPlatform.ModelRegistry.Contracts.IModelVersionResolver>();
        var byAlias = await resolver.ResolveAsync(projectId, name, "challenger");
        byAlias.ShouldNotBeNull().Version.ShouldBe(2);
        byAlias.Sha256.ShouldBe(version.GetProperty("sha256").GetString());
        (await resolver.ResolveAsync(projectId, name, "1")).ShouldNotBeNull().Version.ShouldBe(1);
        (await resolver.ResolveAsync(projectId, name, "9")).ShouldBeNull();
        (await resolver.ResolveAsync(projectId, name, "nothing")).ShouldBeNull();
        (await resolver.ResolveAsync(Guid.NewGuid(), name, "1")).ShouldBeNull();
    }
}
