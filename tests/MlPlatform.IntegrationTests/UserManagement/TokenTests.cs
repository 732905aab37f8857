using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.IntegrationTests.UserManagement;

public sealed class TokenHosts : HostPerProvider
{
    protected override Task<UmHost> StartAsync(DatabaseProvider provider) => UmHost.StartAsync(provider);
}

/// <summary>Access tokens (forgeries refused, JWKS), refresh rotation and reuse, logout, sessions; on a host with default settings.</summary>
public sealed class TokenTests(TokenHosts hosts) : IClassFixture<TokenHosts>
{
    private const string Issuer = "mlplatform";
    private const string Audience = "mlplatform-api";

    public static TheoryData<DatabaseProvider> Providers => HostPerProvider.Providers;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_forged_expired_or_misaddressed_access_tokens_Then_each_is_refused_with_401_problem(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, tokens) = await host.SignedInUserAsync();
        var signing = host.Services.GetRequiredService<SigningKeyStore>().SigningCredentials;
        var now = DateTime.UtcNow;
        var genuine = new JsonWebToken(tokens.Access);

        // The host's own key with claims the test chooses: each case differs from a valid token in one way.
        string Signed(string issuer = Issuer, string audience = Audience, DateTime? notBefore = null, DateTime? expires = null, SigningCredentials? credentials = null) =>
            new JsonWebTokenHandler { SetDefaultTimesOnTokenCreation = false }.CreateToken(new SecurityTokenDescriptor
            {
                Issuer = issuer,
                Audience = audience,
                IssuedAt = (notBefore ?? now.AddMinutes(-1)),
                NotBefore = notBefore ?? now.AddMinutes(-1),
                Expires = expires ?? now.AddMinutes(10),
                Claims = new Dictionary<string, object>
                {
                    ["sub"] = user.Id.ToString(),
                    ["name"] = user.Name,
                    ["mlp_typ"] = "user",
                    ["mlp_admin"] = "true",
                    ["sid"] = genuine.GetClaim("sid").Value,
                },
                SigningCredentials = credentials ?? signing,
            });

        // Control: the way the cases are made yields a token the host accepts.
        (await host.GetAsync("/api/v1/users/me", Signed())).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await host.GetAsync("/api/v1/users/me", tokens.Access)).StatusCode.ShouldBe(HttpStatusCode.OK);

        var jwks = await host.GetAsync("/.well-known/jwks.json");
        var publishedJwk = (await UmHost.ReadJsonAsync(jwks, HttpStatusCode.OK)).GetProperty("keys").EnumerateArray()
            .Single(k => k.GetProperty("kid").GetString() == genuine.Kid);
        var publicPoint = new byte[] { 4 }
            .Concat(Base64UrlEncoder.DecodeBytes(publishedJwk.GetProperty("x").GetString()))
            .Concat(Base64UrlEncoder.DecodeBytes(publishedJwk.GetProperty("y").GetString())).ToArray();
        var adminPayload = Base64UrlEncoder.Encode(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["iss"] = Issuer,
            ["aud"] = Audience,
            ["sub"] = user.Id.ToString(),
            ["mlp_typ"] = "user",
            ["mlp_admin"] = "true",
            ["nbf"] = new DateTimeOffset(now.AddMinutes(-1)).ToUnixTimeSeconds(),
            ["exp"] = new DateTimeOffset(now.AddMinutes(10)).ToUnixTimeSeconds(),
        }));
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var forgeries = new Dictionary<string, string>
        {
            ["alg none"] = Header(new { alg = "none", typ = "JWT", kid = genuine.Kid }) + "." + adminPayload + ".",
            ["alg none, no kid"] = Header(new { alg = "none", typ = "JWT" }) + "." + adminPayload + ".",
            ["HS256 keyed with the public JWK"] = Hmac(new { alg = "HS256", typ = "JWT", kid = genuine.Kid }, adminPayload, Encoding.UTF8.GetBytes(publishedJwk.GetRawText())),
            ["HS256 keyed with the public point"] = Hmac(new { alg = "HS256", typ = "JWT", kid = genuine.Kid }, adminPayload, publicPoint),
            ["HS256 keyed with the x coordinate text"] = Hmac(new { alg = "HS256", typ = "JWT", kid = genuine.Kid }, adminPayload, Encoding.UTF8.GetBytes(publishedJwk.GetProperty("x").GetString()!)),
            ["expired"] = Signed(notBefore: now.AddHours(-2), expires: now.AddMinutes(-5)),
            ["not yet valid"] = Signed(notBefore: now.AddMinutes(10), expires: now.AddMinutes(30)),
            ["wrong issuer"] = Signed(issuer: "someone-else"),
            ["wrong audience"] = Signed(audience: "another-api"),
            ["tampered payload"] = TamperedPayload(tokens.Access),
            ["tampered signature"] = tokens.Access[..^6] + (tokens.Access[^6] == 'A' ? "BBBBBB" : "AAAAAA"),
            ["unknown kid"] = Signed(credentials: new SigningCredentials(new ECDsaSecurityKey(otherKey) { KeyId = "no-such-key" }, SecurityAlgorithms.EcdsaSha256)),
            ["known kid, other key"] = Signed(credentials: new SigningCredentials(new ECDsaSecurityKey(otherKey) { KeyId = genuine.Kid }, SecurityAlgorithms.EcdsaSha256)),
            ["no kid, other key"] = Signed(credentials: new SigningCredentials(new ECDsaSecurityKey(otherKey), SecurityAlgorithms.EcdsaSha256)),
            ["not a token"] = "not-a-token",
            ["refresh token as access token"] = tokens.Refresh,
        };

        foreach (var (name, forged) in forgeries)
        {
            var response = await host.GetAsync("/api/v1/users/me", forged);
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, name);
            await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
            response.Headers.WwwAuthenticate.ToString().ShouldStartWith("Bearer", customMessage: name);
        }

        // The forgeries claimed admin: none of them reached an admin endpoint either.
        (await host.GetAsync("/api/v1/users", forgeries["alg none"])).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var anonymous = await (await host.GetAsync("/api/v1/users/me")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        anonymous.GetProperty("detail").GetString().ShouldNotBeNullOrWhiteSpace();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_token_issued_by_host_Then_it_validates_with_only_the_keys_published_at_jwks(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, tokens) = await host.SignedInUserAsync();

        var response = await host.GetAsync("/.well-known/jwks.json");
        var json = await response.Content.ReadAsStringAsync();

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        var set = new JsonWebKeySet(json);
        set.Keys.ShouldNotBeEmpty();
        set.Keys.ShouldAllBe(k => k.Kty == "EC" && k.Crv == "P-256" && k.Alg == "ES256" && k.Use == "sig" && !k.HasPrivateKey && string.IsNullOrEmpty(k.D));
        var result = await JwksValidation.ValidateAsync(tokens.Access, json);
        result.IsValid.ShouldBeTrue(result.Exception?.ToString());
        result.ClaimsIdentity.FindFirst("sub")!.Value.ShouldBe(user.Id.ToString());
        result.ClaimsIdentity.FindFirst("mlp_typ")!.Value.ShouldBe("user");
        result.ClaimsIdentity.HasClaim(c => c.Type == "mlp_admin").ShouldBeFalse();

        // The published keys are not a rubber stamp: a token signed elsewhere fails.
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var forged = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = Issuer,
            Audience = Audience,
            Subject = new ClaimsIdentity([new Claim("sub", user.Id.ToString())]),
            SigningCredentials = new SigningCredentials(new ECDsaSecurityKey(otherKey) { KeyId = new JsonWebToken(tokens.Access).Kid }, SecurityAlgorithms.EcdsaSha256),
        });
        (await JwksValidation.ValidateAsync(forged, json)).IsValid.ShouldBeFalse();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_refresh_token_presented_twice_Then_the_whole_token_family_is_revoked_and_the_reuse_audited(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, first) = await host.SignedInUserAsync();

        var rotated = await UmHost.ReadJsonAsync(await host.RefreshResponseAsync(first.Refresh), HttpStatusCode.OK);
        var second = rotated.GetProperty("refreshToken").GetString()!;
        second.ShouldNotBe(first.Refresh);
        (await host.GetAsync("/api/v1/users/me", rotated.GetProperty("accessToken").GetString())).StatusCode.ShouldBe(HttpStatusCode.OK);

        // The first token again: someone replays it. Both it and the token that replaced it die.
        await (await host.RefreshResponseAsync(first.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await host.RefreshResponseAsync(second)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        var sessions = await host.InDatabaseAsync(db => db.Sessions.Where(s => s.UserId == user.Id).ToListAsync());
        sessions.ShouldHaveSingleItem().RevokedAt.ShouldNotBeNull();
        var reuse = await host.InDatabaseAsync(db => db.AuditLog.Where(e => e.Action == "auth.refresh_reuse" && e.Actor == user.Id.ToString()).ToListAsync());
        reuse.ShouldHaveSingleItem().Outcome.ShouldBe("denied");
        reuse[0].Resource.ShouldBe($"session/{sessions[0].Id}");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_logout_Then_the_session_refresh_token_stops_working(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, first) = await host.SignedInUserAsync();
        var second = await host.LoginAsync(user.Name);
        var third = await host.LoginAsync(user.Name);

        // Without a body: the session of the access token ends.
        (await host.PostAsync("/api/v1/auth/logout", null, first.Access)).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        // With the refresh token of another of my sessions: that one ends.
        (await host.PostAsync("/api/v1/auth/logout", new { refreshToken = second.Refresh }, third.Access)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await host.RefreshResponseAsync(first.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await host.RefreshResponseAsync(second.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await host.RefreshResponseAsync(third.Refresh)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await (await host.PostAsync("/api/v1/auth/logout", null)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_user_with_several_sessions_Then_they_list_and_revoke_their_own_and_get_404_for_anyone_elses(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var (user, laptop) = await host.SignedInUserAsync();
        var phone = await host.LoginAsync(user.Name);
        var (_, stranger) = await host.SignedInUserAsync();

        var listed = await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/auth/sessions", laptop.Access), HttpStatusCode.OK);
        listed.GetArrayLength().ShouldBe(2);
        var current = listed.EnumerateArray().Single(s => s.GetProperty("current").GetBoolean());
        current.GetProperty("id").GetString().ShouldBe(new JsonWebToken(laptop.Access).GetClaim("sid").Value);
        var phoneSession = listed.EnumerateArray().Single(s => !s.GetProperty("current").GetBoolean()).GetProperty("id").GetGuid();
        var strangerSession = (await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/auth/sessions", stranger.Access), HttpStatusCode.OK))[0].GetProperty("id").GetGuid();

        await (await host.DeleteAsync($"/api/v1/auth/sessions/{strangerSession}", laptop.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await host.DeleteAsync($"/api/v1/auth/sessions/{Guid.NewGuid()}", laptop.Access)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        (await host.DeleteAsync($"/api/v1/auth/sessions/{phoneSession}", laptop.Access)).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        await (await host.RefreshResponseAsync(phone.Refresh)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        (await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/auth/sessions", laptop.Access), HttpStatusCode.OK)).GetArrayLength().ShouldBe(1);
        // The stranger's session was not touched.
        (await UmHost.ReadJsonAsync(await host.GetAsync("/api/v1/auth/sessions", stranger.Access), HttpStatusCode.OK)).GetArrayLength().ShouldBe(1);
        (await host.RefreshResponseAsync(laptop.Refresh)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_default_settings_Then_self_registration_is_off_and_answers_403_problem(DatabaseProvider provider)
    {
        var host = await hosts.For(provider);
        var name = Names.User();

        await (await host.PostAsync("/api/v1/auth/register", new { username = name, email = $"{name}@example.test", password = UmHost.Password }))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        // Whatever the body: the feature is off, so its rules are not the caller's business.
        await (await host.PostAsync("/api/v1/auth/register", new { username = "x", password = "y" }))
            .ShouldBeProblemAsync(HttpStatusCode.Forbidden);

        (await host.InDatabaseAsync(db => db.Users.AnyAsync(u => u.NormalizedUsername == name))).ShouldBeFalse();
    }

    private static string Header(object header) => Base64UrlEncoder.Encode(JsonSerializer.Serialize(header));

    private static string Hmac(object header, string payload, byte[] key)
    {
        var signingInput = Header(header) + "." + payload;
        return signingInput + "." + Base64UrlEncoder.Encode(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(signingInput)));
    }

    /// <summary>The genuine header and signature around a payload that now claims admin.</summary>
    private static string TamperedPayload(string token)
    {
        var parts = token.Split('.');
        var claims = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(Base64UrlEncoder.Decode(parts[1]))!
            .ToDictionary(kv => kv.Key, kv => (object)kv.Value);
        claims["mlp_admin"] = "true";
        return parts[0] + "." + Base64UrlEncoder.Encode(JsonSerializer.Serialize(claims)) + "." + parts[2];
    }
}

/// <summary>What a split-out module does: validate the platform's tokens with nothing but the JWKS document.</summary>
public static class JwksValidation
{
    public static Task<TokenValidationResult> ValidateAsync(string token, string jwksJson, Func<DateTime>? now = null)
    {
        var parameters = new TokenValidationParameters
        {
            ValidIssuer = "mlplatform",
            ValidAudience = "mlplatform-api",
            ValidAlgorithms = [SecurityAlgorithms.EcdsaSha256],
            IssuerSigningKeys = new JsonWebKeySet(jwksJson).GetSigningKeys(),
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
        };
        if (now is not null)
        {
            parameters.LifetimeValidator = (notBefore, expires, _, _) =>
                (notBefore is null || notBefore <= now()) && expires is { } exp && exp > now();
        }

        return new JsonWebTokenHandler { MapInboundClaims = false }.ValidateTokenAsync(token, parameters);
    }
}
