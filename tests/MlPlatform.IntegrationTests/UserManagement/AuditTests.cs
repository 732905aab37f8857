using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.UserManagement;

/// <summary>The audit log: what is recorded, with which details, and how administrators query it.</summary>
[Collection(ProbeHostCollection.Name)]
public sealed class AuditTests(ProbeHosts hosts)
{
    public static TheoryData<DatabaseProvider> Providers => HostPerProvider.Providers;

    private static async Task<List<JsonElement>> Query(UmHost host, string query)
    {
        var page = await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/audit?" + query, await host.AdminTokenAsync()), HttpStatusCode.OK);
        return page.GetProperty("items").EnumerateArray().ToList();
    }

    private static Action<HttpRequestMessage> From(string clientAddress, ActivityTraceId trace) => request =>
    {
        request.Headers.Add(TestClientAddress.Header, clientAddress);
        request.Headers.Add("traceparent", $"00-{trace}-{ActivitySpanId.CreateRandom()}-01");
    };

    private static string Iso(DateTimeOffset time) => Uri.EscapeDataString(time.ToString("O", CultureInfo.InvariantCulture));

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_logins_Then_successes_and_failures_are_audited_with_actor_time_trace_id_and_client_address(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var user = await host.CreateUserAsync();
        var unknown = Names.User("nobody");
        var goodTrace = ActivityTraceId.CreateRandom();
        var badTrace = ActivityTraceId.CreateRandom();
        var before = DateTimeOffset.UtcNow;

        (await host.SendAsync(HttpMethod.Post, "/api/v1/auth/login", new { username = user.Name, password = user.Password }, configure: From("10.1.2.3", goodTrace)))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.SendAsync(HttpMethod.Post, "/api/v1/auth/login", new { username = user.Email, password = "Wrong-Password-1" }, configure: From("10.1.2.4", badTrace)))
            .StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        (await host.LoginResponseAsync(unknown, "Wrong-Password-2")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var after = DateTimeOffset.UtcNow;

        var entries = await Query(host, $"actor={user.Id}&action=auth.login");
        entries.Count.ShouldBe(2);
        var success = entries.Single(e => e.GetProperty("outcome").GetString() == "success");
        success.GetProperty("actorType").GetString().ShouldBe("user");
        success.GetProperty("resource").GetString().ShouldBe($"user/{user.Id}");
        success.GetProperty("clientAddress").GetString().ShouldBe("10.1.2.3");
        success.GetProperty("traceId").GetString().ShouldBe(goodTrace.ToString());
        success.GetProperty("occurredAt").GetDateTimeOffset().ShouldBeInRange(before, after);
        var failure = entries.Single(e => e.GetProperty("outcome").GetString() == "failure");
        failure.GetProperty("clientAddress").GetString().ShouldBe("10.1.2.4");
        failure.GetProperty("traceId").GetString().ShouldBe(badTrace.ToString());
        failure.GetProperty("details").GetString()!.ShouldNotContain("Wrong-Password");

        // An unknown name is recorded as what was claimed.
        var claimed = (await Query(host, $"actor={unknown}")).Where(e => e.GetProperty("action").GetString() == "auth.login").ToList();
        claimed.ShouldHaveSingleItem().GetProperty("actorType").GetString().ShouldBe("claimed");
        claimed[0].GetProperty("outcome").GetString().ShouldBe("failure");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_state_changing_requests_Then_each_is_audited_with_actor_outcome_status_resource_and_project(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var team = await Team.CreateAsync(host);
        var owner = team.Owner.User.Id;
        var trace = ActivityTraceId.CreateRandom();
        var members = $"/api/v1/projects/{team.A.Name}/members";

        (await host.SendAsync(HttpMethod.Put, $"{members}/{team.Outsider.User.Id}", new { role = "Viewer" }, team.Owner.Tokens.Access, From("192.0.2.7", trace)))
            .StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.PutAsync($"{members}/{Guid.NewGuid()}", new { role = "Viewer" }, team.Owner.Tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await host.PutAsync($"{members}/{team.Outsider.User.Id}", new { role = "Owner" }, team.Viewer.Tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await host.PostAsync($"/test/projects/{team.A.Name}/things", new { name = "t" }, team.Maintainer.Tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.Created);
        (await host.GetAsync($"/api/v1/projects/{team.A.Name}", team.Owner.Tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var byOwner = await Query(host, $"actor={owner}&projectId={team.A.Id}");
        var put = byOwner.Where(e => e.GetProperty("action").GetString()!.StartsWith("PUT ", StringComparison.Ordinal)).ToList();
        var ok = put.Single(e => e.GetProperty("resource").GetString() == $"{members}/{team.Outsider.User.Id}");
        ok.GetProperty("statusCode").GetInt32().ShouldBe(200);
        ok.GetProperty("action").GetString().ShouldBe("PUT /api/v1/projects/{project}/members/{userId:guid}");
        ok.GetProperty("resource").GetString().ShouldBe($"{members}/{team.Outsider.User.Id}");
        ok.GetProperty("outcome").GetString().ShouldBe("success");
        ok.GetProperty("actorType").GetString().ShouldBe("user");
        ok.GetProperty("traceId").GetString().ShouldBe(trace.ToString());
        ok.GetProperty("clientAddress").GetString().ShouldBe("192.0.2.7");
        var notFound = put.Single(e => e.GetProperty("statusCode").GetInt32() == 404);
        notFound.GetProperty("outcome").GetString().ShouldBe("failure");
        notFound.GetProperty("traceId").GetString().ShouldNotBeNullOrEmpty();

        var denied = (await Query(host, $"actor={team.Viewer.User.Id}&projectId={team.A.Id}")).Where(e => e.GetProperty("action").GetString()!.StartsWith("PUT ", StringComparison.Ordinal)).ToList();
        denied.ShouldHaveSingleItem().GetProperty("statusCode").GetInt32().ShouldBe(403);
        denied[0].GetProperty("outcome").GetString().ShouldBe("denied");

        // Another module's request, in a project: audited with the project too.
        var probe = await Query(host, $"actor={team.Maintainer.User.Id}&projectId={team.A.Id}");
        probe.ShouldContain(e => e.GetProperty("action").GetString()!.StartsWith("POST /test/projects/{project}/things", StringComparison.Ordinal) && e.GetProperty("statusCode").GetInt32() == 201);

        // Reads are not state changes.
        (await Query(host, $"actor={owner}")).ShouldNotContain(e => e.GetProperty("action").GetString()!.StartsWith("GET ", StringComparison.Ordinal));

        // Nobody signed in: recorded as anonymous and denied.
        var anonymousPath = $"/api/v1/projects/{team.A.Name}/members/{Guid.NewGuid()}";
        var sent = DateTimeOffset.UtcNow.AddSeconds(-1);
        (await host.PutAsync(anonymousPath, new { role = "Owner" })).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var anonymous = (await Query(host, $"actor=anonymous&from={Iso(sent)}&limit=1000")).Single(e => e.GetProperty("resource").GetString() == anonymousPath);
        anonymous.GetProperty("actorType").GetString().ShouldBe("anonymous");
        anonymous.GetProperty("outcome").GetString().ShouldBe("denied");
        anonymous.GetProperty("statusCode").GetInt32().ShouldBe(401);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_audit_entries_Then_admins_filter_by_actor_action_prefix_project_outcome_and_time_and_page_with_a_cursor(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, tokens) = await host.SignedInUserAsync();
        await host.LoginAsync(user.Name);
        (await host.LoginResponseAsync(user.Name, "Wrong-Password-3")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var (project, projectId) = await host.CreateProjectAsync(tokens.Access);
        await Task.Delay(20);
        var mark = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        await host.LoginAsync(user.Name);
        var other = await host.CreateUserAsync();
        await host.AddMemberAsync(tokens.Access, project, other.Id, "Viewer");

        var all = await Query(host, $"actor={user.Id}&limit=1000");
        all.Count.ShouldBeGreaterThanOrEqualTo(7);
        all.Select(e => e.GetProperty("id").GetInt64()).ShouldBe(all.Select(e => e.GetProperty("id").GetInt64()).OrderDescending(), "newest first");
        all.ShouldAllBe(e => e.GetProperty("actor").GetString() == user.Id.ToString());

        var auth = await Query(host, $"actor={user.Id}&action=auth.*");
        auth.Count.ShouldBe(4);
        auth.ShouldAllBe(e => e.GetProperty("action").GetString()!.StartsWith("auth.", StringComparison.Ordinal));
        (await Query(host, $"actor={user.Id}&action=auth.login&outcome=failure")).ShouldHaveSingleItem();
        (await Query(host, $"actor={user.Id}&action=auth")).ShouldBeEmpty();

        var inProject = await Query(host, $"projectId={projectId}");
        inProject.ShouldAllBe(e => e.GetProperty("projectId").GetGuid() == projectId);
        inProject.ShouldContain(e => e.GetProperty("action").GetString() == "project.created");
        inProject.ShouldContain(e => e.GetProperty("action").GetString() == "project.member.role_changed");

        var later = await Query(host, $"actor={user.Id}&from={Iso(mark)}");
        var earlier = await Query(host, $"actor={user.Id}&to={Iso(mark)}");
        (later.Count + earlier.Count).ShouldBe(all.Count);
        later.ShouldAllBe(e => e.GetProperty("occurredAt").GetDateTimeOffset() >= mark);
        earlier.ShouldAllBe(e => e.GetProperty("occurredAt").GetDateTimeOffset() <= mark);
        later.Count(e => e.GetProperty("action").GetString() == "auth.login").ShouldBe(1);
        later.ShouldContain(e => e.GetProperty("action").GetString() == "project.member.role_changed");
        (await Query(host, $"actor={user.Id}&from={Iso(mark)}&to={Iso(mark.AddMinutes(10))}&action=auth.*")).ShouldHaveSingleItem();

        // Pages of two, newest first, following the cursor to the end: every entry once.
        var paged = new List<long>();
        string? cursor = null;
        for (var pages = 0; pages < 50; pages++)
        {
            var page = await UmHost.ReadJsonAsync(
                await host.GetAsync($"/api/v1/audit?actor={user.Id}&limit=2{(cursor is null ? string.Empty : "&before=" + cursor)}", await host.AdminTokenAsync()),
                HttpStatusCode.OK);
            var items = page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetInt64()).ToList();
            items.Count.ShouldBeLessThanOrEqualTo(2);
            paged.AddRange(items);
            var next = page.GetProperty("nextCursor");
            if (next.ValueKind == JsonValueKind.Null)
            {
                break;
            }

            cursor = next.GetInt64().ToString(CultureInfo.InvariantCulture);
        }

        paged.ShouldBe(all.Select(e => e.GetProperty("id").GetInt64()).ToList());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_non_admin_or_bad_query_Then_the_audit_log_answers_403_401_or_400_problem(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (_, tokens) = await host.SignedInUserAsync();
        var (project, _) = await host.CreateProjectAsync(tokens.Access);
        var key = await host.CreateKeyAsync(tokens.Access, project, "Owner");
        var admin = await host.AdminTokenAsync();

        await (await host.GetAsync("/api/v1/audit", tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync("/api/v1/audit", key.Key)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync("/api/v1/audit")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        await (await host.GetAsync("/api/v1/audit?limit=0", admin)).ShouldBeValidationProblemAsync("limit");
        await (await host.GetAsync("/api/v1/audit?outcome=maybe", admin)).ShouldBeValidationProblemAsync("outcome");
        await (await host.GetAsync($"/api/v1/audit?from={Iso(DateTimeOffset.UtcNow)}&to={Iso(DateTimeOffset.UtcNow.AddDays(-1))}", admin)).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        await (await host.GetAsync("/api/v1/audit?projectId=not-a-guid", admin)).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        await (await host.GetAsync("/api/v1/audit?from=yesterday", admin)).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
    }
}
