using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.UserManagement;

public sealed class AccountHosts : HostPerProvider
{
    public const int FailuresBeforeLockout = 4;

    protected override Task<UmHost> StartAsync(DatabaseProvider provider) => UmHost.StartAsync(provider, new Dictionary<string, string?>
    {
        ["UserManagement:SelfRegistration:Enabled"] = "true",
        ["UserManagement:Login:FailuresBeforeDelay"] = "2",
        ["UserManagement:Login:FailuresBeforeLockout"] = FailuresBeforeLockout.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });
}

/// <summary>Accounts: login, registration, validation, duplicates, password rules and changes, disabling, brute force.</summary>
public sealed class AccountTests(AccountHosts hosts) : IClassFixture<AccountHosts>
{
    public static TheoryData<DatabaseProvider> Providers => HostPerProvider.Providers;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_user_Then_logs_in_with_username_or_email_in_any_case(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var user = await host.CreateUserAsync();

        foreach (var login in new[] { user.Name, user.Name.ToUpperInvariant(), user.Email!, user.Email!.ToUpperInvariant(), "  " + user.Name + " " })
        {
            var tokens = await host.LoginAsync(login);
            var me = await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/users/me", tokens.Access), HttpStatusCode.OK);
            me.GetProperty("id").GetGuid().ShouldBe(user.Id);
            me.TryGetProperty("passwordHash", out _).ShouldBeFalse();
        }

        (await host.InDatabaseAsync(db => db.Users.SingleAsync(u => u.Id == user.Id))).LastLoginAt.ShouldNotBeNull();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_unknown_user_wrong_password_or_disabled_account_Then_the_answers_are_the_same(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var user = await host.CreateUserAsync();
        var disabled = await host.CreateUserAsync();
        (await host.PostAsync($"/api/v1/users/{disabled.Id}/disable", null, await host.AdminTokenAsync())).StatusCode.ShouldBe(HttpStatusCode.OK);

        var answers = new List<(HttpResponseMessage Response, string Body)>();
        foreach (var (login, password) in new[] { (Names.User("nobody"), UmHost.Password), (user.Name, "Wrong-Password-123"), (disabled.Name, disabled.Password), (Names.User("ghost") + "@example.test", "x") })
        {
            var response = await host.LoginResponseAsync(login, password);
            await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
            answers.Add((response, Comparable(await response.Content.ReadAsStringAsync())));
        }

        answers.Select(a => a.Body).Distinct().ShouldHaveSingleItem();
        answers.Select(a => a.Response.Headers.WwwAuthenticate.ToString()).Distinct().ShouldHaveSingleItem();
        answers.Select(a => a.Response.Content.Headers.ContentType!.ToString()).Distinct().ShouldHaveSingleItem();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_self_registration_enabled_Then_it_creates_an_ordinary_user_even_when_the_body_says_admin(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var name = Names.User("self");

        var response = await host.PostAsync("/api/v1/auth/register", new { username = name, email = $"{name}@example.test", password = UmHost.Password, isAdmin = true, isDisabled = true, id = Guid.Empty });

        var created = await UmHost.ReadJsonAsync(response, HttpStatusCode.Created);
        created.GetProperty("isAdmin").GetBoolean().ShouldBeFalse();
        created.GetProperty("isDisabled").GetBoolean().ShouldBeFalse();
        created.GetProperty("id").GetGuid().ShouldNotBe(Guid.Empty);
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/users/{created.GetProperty("id").GetGuid()}");
        (await host.InDatabaseAsync(db => db.Users.SingleAsync(u => u.NormalizedUsername == name))).IsAdmin.ShouldBeFalse();
        var tokens = await host.LoginAsync(name);
        await (await host.GetAsync("/api/v1/users", tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PostAsync("/api/v1/auth/register", new { username = name.ToUpperInvariant(), password = UmHost.Password }))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_invalid_input_Then_400_problem_names_every_bad_field(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var admin = await host.AdminTokenAsync();

        await (await host.PostAsync("/api/v1/users", new { username = "x", email = "not-an-address", password = "short" }, admin))
            .ShouldBeValidationProblemAsync("username", "email", "password");
        await (await host.PostAsync("/api/v1/auth/register", new { username = "-starts-with-dash", password = UmHost.Password }))
            .ShouldBeValidationProblemAsync("username");
        await (await host.PostAsync("/api/v1/users", new { username = "trailing.newline\n", password = UmHost.Password }, admin))
            .ShouldBeValidationProblemAsync("username");
        await (await host.PostAsync("/api/v1/auth/login", new { username = "", password = "" }))
            .ShouldBeValidationProblemAsync("username", "password");
        await (await host.PostAsync("/api/v1/auth/refresh", new { refreshToken = "" })).ShouldBeValidationProblemAsync("refreshToken");
        await (await host.GetAsync("/api/v1/users?limit=0", admin)).ShouldBeValidationProblemAsync("limit");
        await (await host.PostAsync("/api/v1/users", new StringContent("{\"username\": ", Encoding.UTF8, "application/json"), admin))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        await (await host.PostAsync("/api/v1/users", new StringContent("{\"username\": 42, \"isAdmin\": \"yes\"}", Encoding.UTF8, "application/json"), admin))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_weak_passwords_Then_the_policy_refuses_them_with_400(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var admin = await host.AdminTokenAsync();
        var name = Names.User("policy");

        foreach (var weak in new[] { "Short-1", "aaaaaaaaaaaaaaaaaaaa", "abababababab1212", $"My-{name}-pass!", new string('x', 120) + "Abc-1234-5678" })
        {
            var problem = await (await host.PostAsync("/api/v1/users", new { username = name, password = weak }, admin)).ShouldBeValidationProblemAsync("password");
            problem.GetProperty("errors").GetProperty("password")[0].GetString()!.ShouldNotContain(weak);
        }

        (await host.InDatabaseAsync(db => db.Users.AnyAsync(u => u.NormalizedUsername == name))).ShouldBeFalse();
        (await host.PostAsync("/api/v1/users", new { username = name, password = "Twelve-chars-ok" }, admin)).StatusCode.ShouldBe(HttpStatusCode.Created);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_taken_username_or_email_in_any_case_Then_409_problem(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var admin = await host.AdminTokenAsync();
        var user = await host.CreateUserAsync();

        await (await host.PostAsync("/api/v1/users", new { username = user.Name.ToUpperInvariant(), password = UmHost.Password }, admin))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict);
        await (await host.PostAsync("/api/v1/users", new { username = Names.User(), email = user.Email!.ToUpperInvariant(), password = UmHost.Password }, admin))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict);
        await (await host.PostAsync("/api/v1/auth/register", new { username = Names.User(), email = user.Email, password = UmHost.Password }))
            .ShouldBeProblemAsync(HttpStatusCode.Conflict);
        (await host.InDatabaseAsync(db => db.Users.CountAsync(u => u.NormalizedEmail == user.Email!.ToLowerInvariant()))).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_concurrent_creations_of_one_username_Then_one_is_created_and_the_others_get_409(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var admin = await host.AdminTokenAsync();
        var name = Names.User("race");

        var responses = await Task.WhenAll(Enumerable.Range(0, 4).Select(i =>
            host.PostAsync("/api/v1/users", new { username = i % 2 == 0 ? name : name.ToUpperInvariant(), password = UmHost.Password }, admin)));

        responses.Count(r => r.StatusCode == HttpStatusCode.Created).ShouldBe(1);
        foreach (var conflict in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
        {
            await conflict.ShouldBeProblemAsync(HttpStatusCode.Conflict);
        }

        (await host.InDatabaseAsync(db => db.Users.CountAsync(u => u.NormalizedUsername == name))).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_admin_disables_user_Then_refresh_and_login_fail_at_once_and_enabling_restores_login(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var admin = await host.AdminTokenAsync();
        var (user, tokens) = await host.SignedInUserAsync();
        var (_, other) = await host.SignedInUserAsync();

        await (await host.PostAsync($"/api/v1/users/{user.Id}/disable", null, other.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        var disabled = await UmHost.ReadJsonAsync(await host.PostAsync($"/api/v1/users/{user.Id}/disable", null, admin), HttpStatusCode.OK);

        disabled.GetProperty("isDisabled").GetBoolean().ShouldBeTrue();
        await (await host.RefreshResponseAsync(tokens.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await host.LoginResponseAsync(user.Name, user.Password)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await host.InDatabaseAsync(db => db.Sessions.Where(s => s.UserId == user.Id).AllAsync(s => s.RevokedAt != null))).ShouldBeTrue();
        await (await host.PostAsync($"/api/v1/users/{await host.AdminIdAsync()}/disable", null, admin)).ShouldBeProblemAsync(HttpStatusCode.Conflict);
        await (await host.PostAsync($"/api/v1/users/{Guid.NewGuid()}/disable", null, admin)).ShouldBeProblemAsync(HttpStatusCode.NotFound);

        (await host.PostAsync($"/api/v1/users/{user.Id}/enable", null, admin)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await host.LoginAsync(user.Name);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_admin_resets_a_password_Then_the_old_one_and_every_session_stop_working(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var admin = await host.AdminTokenAsync();
        var (user, tokens) = await host.SignedInUserAsync();
        const string NewPassword = "Reset-By-Admin-77";

        await (await host.PutAsync($"/api/v1/users/{user.Id}/password", new { newPassword = "weak" }, admin)).ShouldBeValidationProblemAsync("newPassword");
        await (await host.PutAsync($"/api/v1/users/{user.Id}/password", new { newPassword = NewPassword }, tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PutAsync($"/api/v1/users/{Guid.NewGuid()}/password", new { newPassword = NewPassword }, admin)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        (await host.PutAsync($"/api/v1/users/{user.Id}/password", new { newPassword = NewPassword }, admin)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await host.RefreshResponseAsync(tokens.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await host.LoginResponseAsync(user.Name, user.Password)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await host.LoginAsync(user.Name, NewPassword);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_user_changes_own_password_Then_other_sessions_end_and_the_current_one_stays(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, current) = await host.SignedInUserAsync();
        var other = await host.LoginAsync(user.Name);
        var bystander = await host.CreateUserAsync();
        const string NewPassword = "Changed-By-Me-2024";

        await (await host.PutAsync("/api/v1/users/me/password", new { currentPassword = "Not-The-Password-1", newPassword = NewPassword }, current.Access))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PutAsync("/api/v1/users/me/password", new { currentPassword = user.Password, newPassword = "tiny" }, current.Access))
            .ShouldBeValidationProblemAsync("newPassword");
        await (await host.PutAsync("/api/v1/users/me/password", new { currentPassword = user.Password, newPassword = $"x-{user.Name}-x" }, current.Access))
            .ShouldBeValidationProblemAsync("newPassword");
        // Fields that are not part of this request (another user's id) are ignored.
        (await host.PutAsync("/api/v1/users/me/password", new { currentPassword = user.Password, newPassword = NewPassword, userId = bystander.Id }, current.Access))
            .StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await host.RefreshResponseAsync(other.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await host.RefreshResponseAsync(current.Refresh)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await host.LoginResponseAsync(user.Name, user.Password)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await host.LoginAsync(user.Name, NewPassword);
        await host.LoginAsync(bystander.Name, bystander.Password);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_non_admin_Then_admin_endpoints_answer_403_problem(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, tokens) = await host.SignedInUserAsync();

        await (await host.GetAsync("/api/v1/users", tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync($"/api/v1/users/{user.Id}", tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PostAsync("/api/v1/users", new { username = Names.User(), password = UmHost.Password, isAdmin = true }, tokens.Access))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.PostAsync($"/api/v1/users/{user.Id}/enable", null, tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync("/api/v1/audit", tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await host.GetAsync("/api/v1/users")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        var admin = await host.AdminTokenAsync();
        var listed = await UmHost.ReadJsonAsync(await host.GetAsync($"/api/v1/users?search={user.Name}", admin), HttpStatusCode.OK);
        listed.GetProperty("items").EnumerateArray().ShouldHaveSingleItem().GetProperty("id").GetGuid().ShouldBe(user.Id);
        listed.GetRawText().ShouldNotContain("argon2");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_repeated_failed_logins_Then_429_with_retry_after_also_for_the_right_password(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var user = await host.CreateUserAsync();
        var neighbour = await host.CreateUserAsync();
        var attacker = RandomAddress();

        for (var i = 0; i < AccountHosts.FailuresBeforeLockout; i++)
        {
            await (await host.LoginResponseAsync(user.Name, $"Guess-number-{i}", attacker)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        }

        // The account is locked for a while, whoever asks and however they name it.
        foreach (var (login, address) in new[] { (user.Name, attacker), (user.Name, RandomAddress()), (user.Email!, RandomAddress()), (user.Name.ToUpperInvariant(), null) })
        {
            var response = await host.LoginResponseAsync(login, user.Password, address);
            var problem = await response.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
            problem.GetProperty("detail").GetString().ShouldNotBeNullOrWhiteSpace();
            var retryAfter = response.Headers.RetryAfter?.Delta ?? TimeSpan.Zero;
            retryAfter.ShouldBeGreaterThan(TimeSpan.Zero, login);
            retryAfter.ShouldBeLessThanOrEqualTo(TimeSpan.FromMinutes(15));
        }

        // The attacker's address is refused for other accounts too; other clients are not.
        await (await host.LoginResponseAsync(neighbour.Name, neighbour.Password, attacker)).ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
        (await host.LoginResponseAsync(neighbour.Name, neighbour.Password, RandomAddress())).StatusCode.ShouldBe(HttpStatusCode.OK);

        var denied = await host.InDatabaseAsync(db => db.AuditLog.CountAsync(e => e.Action == "auth.login" && e.Outcome == "denied" && e.Resource == null));
        denied.ShouldBeGreaterThanOrEqualTo(4);
    }

    private static string RandomAddress() => $"10.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(1, 250)}";

    /// <summary>The answer without what differs per request by design (the trace id).</summary>
    private static string Comparable(string body)
    {
        var problem = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(body)!;
        problem.Remove("traceId");
        return JsonSerializer.Serialize(problem.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToDictionary());
    }
}
