using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Microsoft.IdentityModel.JsonWebTokens;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.IntegrationTests.UserManagement;

/// <summary>Hosts whose clock only moves when a test moves it.</summary>
public sealed class ClockHosts : HostPerProvider
{
    // The shortest rotation the settings allow, well within a token's lifetime: tokens signed
    // just before a rotation are still valid after it.
    public static readonly TimeSpan KeyRotation = TimeSpan.FromMinutes(1);
    public static readonly TimeSpan AccessTokenLifetime = TimeSpan.FromMinutes(5);

    private readonly Dictionary<DatabaseProvider, FakeTimeProvider> _clocks = [];

    public FakeTimeProvider Clock(DatabaseProvider provider)
    {
        lock (_clocks)
        {
            return _clocks.TryGetValue(provider, out var clock) ? clock : _clocks[provider] = new FakeTimeProvider(DateTimeOffset.UtcNow);
        }
    }

    protected override Task<UmHost> StartAsync(DatabaseProvider provider)
    {
        var clock = Clock(provider);
        return UmHost.StartAsync(
            provider,
            new Dictionary<string, string?>
            {
                ["UserManagement:Tokens:KeyRotation"] = KeyRotation.ToString(),
                ["UserManagement:Tokens:AccessTokenLifetime"] = AccessTokenLifetime.ToString(),
                // A failed login waits on the host's clock; nothing here fails a login on purpose.
                ["UserManagement:Login:FailuresBeforeDelay"] = "1000",
            },
            services => services.AddSingleton<TimeProvider>(clock));
    }
}

/// <summary>Time-dependent behaviour with a fake clock: key rotation with overlap, token and key expiry.</summary>
public sealed class ClockTests(ClockHosts hosts) : IClassFixture<ClockHosts>
{
    public static TheoryData<DatabaseProvider> Providers => HostPerProvider.Providers;

    private static async Task Advance(UmHost host, FakeTimeProvider clock, TimeSpan by)
    {
        clock.Advance(by);
        // What the host's periodic check does: rotate when due, load the current keys.
        await host.Services.GetRequiredService<SigningKeyStore>().EnsureCurrentAsync(CancellationToken.None);
    }

    private static async Task<List<string>> PublishedKids(UmHost host)
    {
        var jwks = await UmHost.ReadJsonAsync(await host.GetAsync("/.well-known/jwks.json"), HttpStatusCode.OK);
        return jwks.GetProperty("keys").EnumerateArray().Select(k => k.GetProperty("kid").GetString()!).ToList();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_rotation_period_passed_Then_jwks_lists_old_and_new_key_new_tokens_use_the_new_kid_and_old_tokens_still_validate(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var clock = hosts.Clock(provider);
        await Advance(host, clock, TimeSpan.Zero);
        var user = await host.CreateUserAsync();
        var beforeRotation = await host.LoginAsync(user.Name);
        var unusedBeforeRotation = await host.LoginAsync(user.Name);
        var oldKid = new JsonWebToken(beforeRotation.Access).Kid;
        (await host.GetAsync("/api/v1/users/me", beforeRotation.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await PublishedKids(host)).ShouldContain(oldKid);
        var jwksBefore = await (await host.GetAsync("/.well-known/jwks.json")).Content.ReadAsStringAsync();

        await Advance(host, clock, ClockHosts.KeyRotation + TimeSpan.FromSeconds(1));

        var kids = await PublishedKids(host);
        kids.ShouldContain(oldKid);
        kids.Count.ShouldBeGreaterThanOrEqualTo(2);
        var afterRotation = await host.LoginAsync(user.Name);
        var newKid = new JsonWebToken(afterRotation.Access).Kid;
        newKid.ShouldNotBe(oldKid);
        kids.ShouldContain(newKid);

        // Old tokens keep working on the host (one it has never seen before too) and with the published keys.
        (await host.GetAsync("/api/v1/users/me", unusedBeforeRotation.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.GetAsync("/api/v1/users/me", beforeRotation.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.GetAsync("/api/v1/users/me", afterRotation.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var jwks = await (await host.GetAsync("/.well-known/jwks.json")).Content.ReadAsStringAsync();
        DateTime Now() => clock.GetUtcNow().UtcDateTime;
        foreach (var token in new[] { beforeRotation.Access, unusedBeforeRotation.Access, afterRotation.Access })
        {
            var result = await JwksValidation.ValidateAsync(token, jwks, Now);
            result.IsValid.ShouldBeTrue(result.Exception?.Message);
        }

        // A verifier that cached the JWKS from before the rotation cannot check new tokens: it must fetch again.
        (await JwksValidation.ValidateAsync(afterRotation.Access, jwksBefore, Now)).IsValid.ShouldBeFalse();

        // Once every token the old key signed has expired, the old key is retired.
        await Advance(host, clock, ClockHosts.AccessTokenLifetime + TimeSpan.FromMinutes(6));
        (await PublishedKids(host)).ShouldNotContain(oldKid);
        await (await host.GetAsync("/api/v1/users/me", unusedBeforeRotation.Access)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await host.GetAsync("/api/v1/users/me", (await host.LoginAsync(user.Name)).Access)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_disabled_user_Then_refresh_fails_at_once_and_the_access_token_stops_within_its_lifetime(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var clock = hosts.Clock(provider);
        await Advance(host, clock, TimeSpan.Zero);
        var (user, tokens) = await host.SignedInUserAsync();
        (await host.GetAsync("/api/v1/users/me", tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);

        (await host.PostAsync($"/api/v1/users/{user.Id}/disable", null, await host.AdminTokenAsync())).StatusCode.ShouldBe(HttpStatusCode.OK);

        await (await host.RefreshResponseAsync(tokens.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        // The token's lifetime plus the validation's clock skew.
        await Advance(host, clock, ClockHosts.AccessTokenLifetime + TimeSpan.FromSeconds(31));
        await (await host.GetAsync("/api/v1/users/me", tokens.Access)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await host.LoginResponseAsync(user.Name, user.Password)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_api_key_with_an_expiry_Then_it_works_until_then_and_answers_401_after(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var clock = hosts.Clock(provider);
        await Advance(host, clock, TimeSpan.Zero);
        var admin = await host.AdminTokenAsync();
        var (project, _) = await host.CreateProjectAsync(admin);
        var key = await host.CreateKeyAsync(admin, project, "Viewer", clock.GetUtcNow() + TimeSpan.FromMinutes(2));
        var lifelong = await host.CreateKeyAsync(admin, project, "Viewer");

        (await host.GetAsync($"/api/v1/projects/{project}", key.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await host.PostAsync($"/api/v1/projects/{project}/service-accounts/{key.AccountId}/keys", new { name = "past", expiresAt = clock.GetUtcNow().AddMinutes(-1) }, admin))
            .ShouldBeValidationProblemAsync("expiresAt");

        await Advance(host, clock, TimeSpan.FromMinutes(2) + TimeSpan.FromSeconds(1));

        await (await host.GetAsync($"/api/v1/projects/{project}", key.Key)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await host.GetAsync($"/api/v1/projects/{project}", lifelong.Key)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }
}
