using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using Npgsql;

namespace MlPlatform.IntegrationTests.UserManagement;

/// <summary>The real host with the probe module, whose project objects are guarded by IProjectAuthorizer.</summary>
public sealed class ProbeHosts : HostPerProvider
{
    protected override Task<UmHost> StartAsync(DatabaseProvider provider) =>
        UmHost.StartAsync(provider, modules: [new ProbeModule(new ProbeLog())]);
}

[CollectionDefinition(Name)]
public sealed class ProbeHostCollection : ICollectionFixture<ProbeHosts>
{
    public const string Name = "user-management probe host";
}

/// <summary>Project A with an Owner, a Maintainer and a Viewer; project B of an outsider.</summary>
public sealed record Team(
    (TestUser User, Tokens Tokens) Owner,
    (TestUser User, Tokens Tokens) Maintainer,
    (TestUser User, Tokens Tokens) Viewer,
    (TestUser User, Tokens Tokens) Outsider,
    (string Name, Guid Id) A,
    (string Name, Guid Id) B)
{
    public static async Task<Team> CreateAsync(UmHost host)
    {
        var owner = await host.SignedInUserAsync();
        var maintainer = await host.SignedInUserAsync();
        var viewer = await host.SignedInUserAsync();
        var outsider = await host.SignedInUserAsync();
        var a = await host.CreateProjectAsync(owner.Tokens.Access);
        var b = await host.CreateProjectAsync(outsider.Tokens.Access);
        await host.AddMemberAsync(owner.Tokens.Access, a.Name, maintainer.User.Id, "Maintainer");
        await host.AddMemberAsync(owner.Tokens.Access, a.Name, viewer.User.Id, "Viewer");
        return new Team(owner, maintainer, viewer, outsider, a, b);
    }
}

/// <summary>Roles, project isolation and service-account keys, through UserManagement's endpoints and a module's.</summary>
[Collection(ProbeHostCollection.Name)]
public sealed class ProjectAccessTests(ProbeHosts hosts)
{
    public static TheoryData<DatabaseProvider> Providers => HostPerProvider.Providers;

    private static Task<HttpResponseMessage> WithApiKeyHeader(UmHost host, HttpMethod method, string path, string key, object? body = null) =>
        host.SendAsync(method, path, body, configure: r => r.Headers.Add("X-Api-Key", key));

    private static async Task<Guid> CreateThing(UmHost host, string project, string token)
    {
        var thing = await UmHost.ReadJsonAsync(await host.PostAsync($"/test/projects/{project}/things", new { name = "t" }, token), HttpStatusCode.Created);
        return thing.GetProperty("id").GetGuid();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_project_roles_Then_a_module_lets_maintainers_write_refuses_viewers_with_403_and_hides_the_project_from_non_members_with_404(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var team = await Team.CreateAsync(host);
        var things = $"/test/projects/{team.A.Name}/things";

        var created = await UmHost.ReadJsonAsync(await host.PostAsync(things, new { name = "model", projectId = team.B.Id }, team.Maintainer.Tokens.Access), HttpStatusCode.Created);
        var thing = created.GetProperty("id").GetGuid();
        created.GetProperty("projectId").GetGuid().ShouldBe(team.A.Id);
        (await host.PostAsync(things, new { name = "by owner" }, team.Owner.Tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await host.PostAsync(things, new { name = "by viewer" }, team.Viewer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        (await host.GetAsync($"{things}/{thing}", team.Viewer.Tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // Not a member: the project might as well not exist.
        var hidden = await (await host.GetAsync($"{things}/{thing}", team.Outsider.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.PostAsync(things, new { name = "intruder" }, team.Outsider.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        var missingProject = Names.Project("missing");
        var missing = await (await host.GetAsync($"/test/projects/{missingProject}/things/{thing}", team.Outsider.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        hidden.GetProperty("title").GetString().ShouldBe(missing.GetProperty("title").GetString());
        hidden.GetProperty("detail").GetString()!.Replace(team.A.Name, "P", StringComparison.Ordinal)
            .ShouldBe(missing.GetProperty("detail").GetString()!.Replace(missingProject, "P", StringComparison.Ordinal));

        // A member of A asking for B's object by id, through either project: 404.
        var thingOfB = await CreateThing(host, team.B.Name, team.Outsider.Tokens.Access);
        await (await host.GetAsync($"{things}/{thingOfB}", team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.GetAsync($"/test/projects/{team.B.Name}/things/{thingOfB}", team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.GetAsync($"/api/v1/projects/{team.B.Name}", team.Owner.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.GetAsync($"/api/v1/projects/{team.B.Name}/members", team.Owner.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);

        // Administrators may do anything anywhere; nobody may do anything anonymously.
        var admin = await host.AdminTokenAsync();
        (await host.GetAsync($"/test/projects/{team.B.Name}/things/{thingOfB}", admin)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.PostAsync(things, new { name = "by admin" }, admin)).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await host.GetAsync($"{things}/{thing}")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        var listed = await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/projects", team.Viewer.Tokens.Access), HttpStatusCode.OK);
        listed.EnumerateArray().ShouldHaveSingleItem().GetProperty("myRole").GetString().ShouldBe("Viewer");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_service_account_keys_Then_their_project_and_role_limit_them_like_members(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var team = await Team.CreateAsync(host);
        var viewerKey = await host.CreateKeyAsync(team.Owner.Tokens.Access, team.A.Name, "Viewer");
        var maintainerKey = await host.CreateKeyAsync(team.Owner.Tokens.Access, team.A.Name, "maintainer");
        var keyOfB = await host.CreateKeyAsync(team.Outsider.Tokens.Access, team.B.Name, "Owner");
        var things = $"/test/projects/{team.A.Name}/things";

        var created = await UmHost.ReadJsonAsync(await host.PostAsync(things, new { name = "by key" }, maintainerKey.Key), HttpStatusCode.Created);
        created.GetProperty("createdBy").GetGuid().ShouldBe(maintainerKey.AccountId);
        var thing = created.GetProperty("id").GetGuid();
        (await WithApiKeyHeader(host, HttpMethod.Post, things, maintainerKey.Key, new { name = "header" })).StatusCode.ShouldBe(HttpStatusCode.Created);
        await (await WithApiKeyHeader(host, HttpMethod.Post, things, viewerKey.Key, new { name = "viewer" })).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        (await WithApiKeyHeader(host, HttpMethod.Get, $"{things}/{thing}", viewerKey.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A key of project B asking for A's objects, and A's keys asking for B's: 404.
        await (await host.GetAsync($"{things}/{thing}", keyOfB.Key)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.PostAsync(things, new { name = "b" }, keyOfB.Key)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        var thingOfB = await CreateThing(host, team.B.Name, keyOfB.Key);
        await (await host.GetAsync($"/test/projects/{team.B.Name}/things/{thingOfB}", maintainerKey.Key)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.GetAsync($"{things}/{thingOfB}", maintainerKey.Key)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.GetAsync($"/api/v1/projects/{team.B.Name}", viewerKey.Key)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        (await host.GetAsync($"/api/v1/projects/{team.A.Name}", viewerKey.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);

        // A Viewer key calling Owner actions: 403.
        await (await host.PostAsync($"/api/v1/projects/{team.A.Name}/service-accounts", new { name = Names.Project("sa"), role = "Owner" }, viewerKey.Key))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync($"/api/v1/projects/{team.A.Name}/service-accounts", viewerKey.Key)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PutAsync($"/api/v1/projects/{team.A.Name}/members/{team.Viewer.User.Id}", new { role = "Owner" }, viewerKey.Key))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        // Keys are not users and never administrators.
        await (await host.GetAsync("/api/v1/audit", keyOfB.Key)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync("/api/v1/users", keyOfB.Key)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PostAsync("/api/v1/projects", new { name = Names.Project() }, keyOfB.Key)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync("/api/v1/users/me", keyOfB.Key)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_api_key_Then_it_is_shown_once_stored_hashed_usable_as_bearer_or_header_its_use_recorded_and_revocable(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var team = await Team.CreateAsync(host);
        var owner = team.Owner.Tokens.Access;
        var key = await host.CreateKeyAsync(owner, team.A.Name, "Viewer");
        key.Key.ShouldStartWith("mlk_");
        var secret = key.Key.Split('_', 3)[2];

        var listed = await host.GetAsync($"/api/v1/projects/{team.A.Name}/service-accounts", owner);
        var listedText = await listed.Content.ReadAsStringAsync();
        listedText.ShouldNotContain(secret);
        listedText.ShouldNotContain("mlk_");
        (await ListedKey(host, team.A.Name, owner, key)).GetProperty("lastUsedAt").ValueKind.ShouldBe(JsonValueKind.Null);
        var stored = await host.InDatabaseAsync(db => db.ApiKeys.SingleAsync(k => k.Id == key.KeyId));
        stored.SecretHash.ShouldBe(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));
        (await DatabaseText(host)).ShouldNotContain(secret);

        var project = $"/api/v1/projects/{team.A.Name}";
        (await host.GetAsync(project, key.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await WithApiKeyHeader(host, HttpMethod.Get, project, key.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await ListedKey(host, team.A.Name, owner, key)).GetProperty("lastUsedAt").GetDateTimeOffset().ShouldBeGreaterThan(DateTimeOffset.UtcNow.AddMinutes(-1));
        var used = await host.InDatabaseAsync(db => db.AuditLog.Where(e => e.Action == "apikey.used" && e.Resource == $"apikey/{key.KeyId}").ToListAsync());
        used.ShouldNotBeEmpty();
        used[0].Actor.ShouldBe(key.AccountId.ToString());
        used[0].ActorType.ShouldBe("service");
        used[0].ProjectId.ShouldBe(team.A.Id);

        var revoke = $"/api/v1/projects/{team.A.Name}/service-accounts/{key.AccountId}/keys/{key.KeyId}";
        await (await host.DeleteAsync(revoke, team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.DeleteAsync($"/api/v1/projects/{team.B.Name}/service-accounts/{key.AccountId}/keys/{key.KeyId}", team.Outsider.Tokens.Access))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound);
        (await host.GetAsync(project, key.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.DeleteAsync(revoke, owner)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await host.GetAsync(project, key.Key)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await WithApiKeyHeader(host, HttpMethod.Get, project, key.Key)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await ListedKey(host, team.A.Name, owner, key)).GetProperty("revokedAt").ValueKind.ShouldBe(JsonValueKind.String);
        // A guessed secret for a real key id is no key either.
        await (await host.GetAsync(project, $"mlk_{key.KeyId:N}_{new string('A', 43)}")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_members_Then_only_owners_change_roles_changes_are_audited_and_a_project_keeps_an_owner(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var team = await Team.CreateAsync(host);
        var owner = team.Owner.Tokens.Access;
        var members = $"/api/v1/projects/{team.A.Name}/members";

        var changed = await UmHost.ReadJsonAsync(await host.PutAsync($"{members}/{team.Viewer.User.Id}", new { role = "maintainer", isApprover = true }, owner), HttpStatusCode.OK);
        changed.GetProperty("role").GetString().ShouldBe("Maintainer");
        changed.GetProperty("isApprover").GetBoolean().ShouldBeTrue();
        var audited = await host.InDatabaseAsync(db => db.AuditLog
            .Where(e => e.Action == "project.member.role_changed" && e.Resource == $"project/{team.A.Name}/members/{team.Viewer.User.Id}")
            .OrderByDescending(e => e.Id).FirstAsync());
        audited.Actor.ShouldBe(team.Owner.User.Id.ToString());
        audited.ProjectId.ShouldBe(team.A.Id);
        audited.Outcome.ShouldBe("success");
        audited.Details.ShouldBe("Viewer -> Maintainer+approver");

        await (await host.PutAsync($"{members}/{team.Outsider.User.Id}", new { role = "Viewer" }, team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.DeleteAsync($"{members}/{team.Viewer.User.Id}", team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PutAsync($"{members}/{team.Outsider.User.Id}", new { role = "Owner" }, team.Outsider.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.PutAsync($"/api/v1/projects/{team.B.Name}/members/{team.Owner.User.Id}", new { role = "Owner" }, owner)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.PutAsync($"{members}/{team.Viewer.User.Id}", new { role = "Admin" }, owner)).ShouldBeValidationProblemAsync("role");
        await (await host.PutAsync($"{members}/{Guid.NewGuid()}", new { role = "Viewer" }, owner)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.PutAsync($"{members}/{team.Owner.User.Id}", new { role = "Viewer" }, owner)).ShouldBeProblemAsync(HttpStatusCode.Conflict);
        await (await host.DeleteAsync($"{members}/{team.Owner.User.Id}", owner)).ShouldBeProblemAsync(HttpStatusCode.Conflict);

        // Project and user come from the route; the same names in the body change nothing.
        (await host.PutAsync($"{members}/{team.Maintainer.User.Id}", new { role = "Viewer", projectId = team.B.Id, project = team.B.Name, userId = team.Outsider.User.Id }, owner))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        var ofA = await UmHost.ReadJsonAsync(await host.GetAsync(members, owner), HttpStatusCode.OK);
        ofA.EnumerateArray().Single(m => m.GetProperty("userId").GetGuid() == team.Maintainer.User.Id).GetProperty("role").GetString().ShouldBe("Viewer");
        var ofB = await UmHost.ReadJsonAsync(await host.GetAsync($"/api/v1/projects/{team.B.Name}/members", team.Outsider.Tokens.Access), HttpStatusCode.OK);
        ofB.EnumerateArray().ShouldHaveSingleItem().GetProperty("role").GetString().ShouldBe("Owner");

        // The demoted maintainer has lost write access at once (on this host).
        await (await host.PostAsync($"/test/projects/{team.A.Name}/things", new { name = "x" }, team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        (await host.DeleteAsync($"{members}/{team.Maintainer.User.Id}", owner)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await (await host.GetAsync($"/api/v1/projects/{team.A.Name}", team.Maintainer.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_owner_or_project_fields_in_create_bodies_Then_they_are_ignored(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var team = await Team.CreateAsync(host);
        var name = Names.Project();

        var created = await UmHost.ReadJsonAsync(
            await host.PostAsync("/api/v1/projects", new { name, ownerId = team.Outsider.User.Id, createdBy = team.Outsider.User.Id, id = team.B.Id, myRole = "Viewer" }, team.Viewer.Tokens.Access),
            HttpStatusCode.Created);

        created.GetProperty("id").GetGuid().ShouldNotBe(team.B.Id);
        created.GetProperty("myRole").GetString().ShouldBe("Owner");
        var row = await host.InDatabaseAsync(db => db.Projects.SingleAsync(p => p.Name == name));
        row.CreatedBy.ShouldBe(team.Viewer.User.Id);
        var members = await UmHost.ReadJsonAsync(await host.GetAsync($"/api/v1/projects/{name}/members", team.Viewer.Tokens.Access), HttpStatusCode.OK);
        members.EnumerateArray().ShouldHaveSingleItem().GetProperty("userId").GetGuid().ShouldBe(team.Viewer.User.Id);
        await (await host.GetAsync($"/api/v1/projects/{name}", team.Outsider.Tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);

        var account = await UmHost.ReadJsonAsync(
            await host.PostAsync($"/api/v1/projects/{team.A.Name}/service-accounts", new { name = "deployer", role = "Viewer", projectId = team.B.Id, project = team.B.Name }, team.Owner.Tokens.Access),
            HttpStatusCode.Created);
        var accountId = account.GetProperty("id").GetGuid();
        (await host.InDatabaseAsync(db => db.ServiceAccounts.SingleAsync(s => s.Id == accountId))).ProjectId.ShouldBe(team.A.Id);

        const string Chosen = "mlk_00000000000000000000000000000000_chosen-by-the-caller-chosen-by-the-caller-x";
        var key = await UmHost.ReadJsonAsync(
            await host.PostAsync($"/api/v1/projects/{team.A.Name}/service-accounts/{accountId}/keys", new { name = "k", key = Chosen, serviceAccountId = Guid.NewGuid() }, team.Owner.Tokens.Access),
            HttpStatusCode.Created);
        key.GetProperty("key").GetString().ShouldNotBe(Chosen);
        var keyId = key.GetProperty("id").GetGuid();
        (await host.InDatabaseAsync(db => db.ApiKeys.SingleAsync(k => k.Id == keyId))).ServiceAccountId.ShouldBe(accountId);
        await (await host.GetAsync($"/api/v1/projects/{team.A.Name}", Chosen)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        // A's service account, asked for through project B by B's owner: 404.
        await (await host.PostAsync($"/api/v1/projects/{team.B.Name}/service-accounts/{accountId}/keys", new { name = "steal" }, team.Outsider.Tokens.Access))
            .ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_project_or_service_account_input_Then_400_with_field_errors_and_duplicates_409(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (_, tokens) = await host.SignedInUserAsync();
        var token = tokens.Access;
        var (project, _) = await host.CreateProjectAsync(token);

        foreach (var bad in new[] { "Upper-Case", "a", new string('p', 64), "with space", "trailing-newline\n", "-leading-dash", "unicode-\u00e9", "bom\ufeff" })
        {
            await (await host.PostAsync("/api/v1/projects", new { name = bad }, token)).ShouldBeValidationProblemAsync("name");
        }

        await (await host.PostAsync("/api/v1/projects", new { name = project }, token)).ShouldBeProblemAsync(HttpStatusCode.Conflict);
        await (await host.PostAsync("/api/v1/projects", new { name = Names.Project(), description = new string('d', 1001) }, token)).ShouldBeValidationProblemAsync("description");

        var accounts = $"/api/v1/projects/{project}/service-accounts";
        await (await host.PostAsync(accounts, new { name = "Bad Name", role = "God" }, token)).ShouldBeValidationProblemAsync("name", "role");
        await (await host.PostAsync(accounts, new { name = "trailing\n", role = "Viewer" }, token)).ShouldBeValidationProblemAsync("name");
        var account = await UmHost.ReadJsonAsync(await host.PostAsync(accounts, new { name = "ci", role = "Viewer" }, token), HttpStatusCode.Created);
        await (await host.PostAsync(accounts, new { name = "ci", role = "Owner" }, token)).ShouldBeProblemAsync(HttpStatusCode.Conflict);
        await (await host.PostAsync($"{accounts}/{account.GetProperty("id").GetGuid()}/keys", new { name = "" }, token)).ShouldBeValidationProblemAsync("name");
        await (await host.PostAsync($"{accounts}/{Guid.NewGuid()}/keys", new { name = "k" }, token)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    private static async Task<JsonElement> ListedKey(UmHost host, string project, string token, TestKey key)
    {
        var accounts = await UmHost.ReadJsonAsync(await host.GetAsync($"/api/v1/projects/{project}/service-accounts", token), HttpStatusCode.OK);
        return accounts.EnumerateArray().Single(a => a.GetProperty("id").GetGuid() == key.AccountId)
            .GetProperty("keys").EnumerateArray().Single(k => k.GetProperty("id").GetGuid() == key.KeyId);
    }

    /// <summary>Everything UserManagement has stored, as text: the SQLite files, or every row of the PostgreSQL schema.</summary>
    private static async Task<string> DatabaseText(UmHost host)
    {
        if (host.Provider == DatabaseProvider.Sqlite)
        {
            var text = new StringBuilder();
            foreach (var file in Directory.GetFiles(Path.Combine(host.DataDirectory, "db"), "user_management*"))
            {
                await using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                using var reader = new StreamReader(stream, Encoding.Latin1);
                text.Append(await reader.ReadToEndAsync());
            }

            text.Length.ShouldBeGreaterThan(0);
            return text.ToString();
        }

        await using var connection = new NpgsqlConnection(host.PostgresConnectionString);
        await connection.OpenAsync();
        var tables = new List<string>();
        await using (var list = new NpgsqlCommand("SELECT table_name FROM information_schema.tables WHERE table_schema = 'user_management'", connection))
        await using (var reader = await list.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                tables.Add(reader.GetString(0));
            }
        }

        tables.ShouldContain("api_keys");
        var rows = new StringBuilder();
        foreach (var table in tables)
        {
            await using var select = new NpgsqlCommand($"SELECT t::text FROM user_management.\"{table}\" t", connection);
            await using var reader = await select.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                rows.Append(reader.GetString(0)).Append('\n');
            }
        }

        return rows.ToString();
    }
}
