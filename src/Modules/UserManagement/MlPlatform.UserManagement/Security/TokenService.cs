using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Domain;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// Issues short-lived ES256 access tokens and opaque refresh tokens, and validates access tokens
/// with the algorithm, issuer, audience and lifetime pinned. A validated token is remembered until
/// it expires (bounded), so a busy caller pays for the signature check once, not per request.
/// </summary>
public sealed class TokenService : IDisposable
{
    public const string TokenType = "Bearer";
    private const int CacheEntries = 20_000;

    private readonly JsonWebTokenHandler _handler = new() { SetDefaultTimesOnTokenCreation = false, MapInboundClaims = false };
    private readonly MemoryCache _validated = new(new MemoryCacheOptions { SizeLimit = CacheEntries });
    private readonly SigningKeyStore _keys;
    private readonly UserManagementOptions _options;
    private readonly TimeProvider _clock;

    public TokenService(SigningKeyStore keys, UserManagementOptions options, TimeProvider clock)
    {
        _keys = keys;
        _options = options;
        _clock = clock;
    }

    public TimeSpan AccessTokenLifetime => _options.AccessTokenLifetime;

    public string CreateAccessToken(User user, Guid sessionId)
    {
        var now = _clock.GetUtcNow();
        var claims = new Dictionary<string, object>
        {
            [PlatformClaims.Subject] = user.Id.ToString(),
            [PlatformClaims.Name] = user.Username,
            [PlatformClaims.PrincipalType] = "user",
            [PlatformClaims.Session] = sessionId.ToString(),
            [JwtRegisteredClaimNames.Jti] = Guid.NewGuid().ToString("N"),
        };
        if (user.IsAdmin)
        {
            claims[PlatformClaims.Admin] = "true";
        }

        return _handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Audience,
            IssuedAt = now.UtcDateTime,
            NotBefore = now.UtcDateTime,
            Expires = (now + _options.AccessTokenLifetime).UtcDateTime,
            Claims = claims,
            SigningCredentials = _keys.SigningCredentials,
        });
    }

    /// <summary>A new opaque refresh token and the hash that is stored in its place.</summary>
    public static (string Token, byte[] Hash) CreateRefreshToken()
    {
        var token = "mlr_" + Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        return (token, Hash(token));
    }

    public static byte[] Hash(string token) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token));

    /// <summary>The principal of a valid access token, or the reason it is not valid.</summary>
    public async ValueTask<(ClaimsPrincipal? Principal, string? Error)> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (_validated.TryGetValue(token, out CachedPrincipal? cached) && cached!.ExpiresAt > _clock.GetUtcNow())
        {
            return (cached.Principal, null);
        }

        if (token.Length > 8192 || !_handler.CanReadToken(token))
        {
            return (null, "The token is malformed.");
        }

        string? keyId;
        try
        {
            keyId = new JsonWebToken(token).Kid;
        }
        catch (ArgumentException)
        {
            return (null, "The token is malformed.");
        }

        var parameters = new TokenValidationParameters
        {
            ValidIssuer = _options.Issuer,
            ValidAudience = _options.Audience,
            ValidAlgorithms = [SigningKeyStore.Algorithm],
            IssuerSigningKeys = await _keys.ValidationKeysAsync(keyId, cancellationToken),
            TryAllIssuerSigningKeys = false,
            ValidateIssuerSigningKey = true,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            ValidateLifetime = true,
            ClockSkew = TimeSpan.FromSeconds(30),
            LifetimeValidator = ValidateLifetime,
            NameClaimType = PlatformClaims.Name,
            AuthenticationType = "Bearer",
        };
        var result = await _handler.ValidateTokenAsync(token, parameters);
        if (!result.IsValid)
        {
            return (null, Describe(result.Exception));
        }

        var principal = new ClaimsPrincipal(result.ClaimsIdentity);
        var expires = new DateTimeOffset(result.SecurityToken.ValidTo, TimeSpan.Zero);
        _validated.Set(token, new CachedPrincipal(principal, expires), new MemoryCacheEntryOptions { Size = 1, AbsoluteExpiration = expires });
        return (principal, null);
    }

    private bool ValidateLifetime(DateTime? notBefore, DateTime? expires, SecurityToken token, TokenValidationParameters parameters)
    {
        var now = _clock.GetUtcNow().UtcDateTime;
        return expires is { } exp && exp > now - parameters.ClockSkew
            && (notBefore is not { } nbf || nbf <= now + parameters.ClockSkew);
    }

    private static string Describe(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException or SecurityTokenInvalidLifetimeException => "The token has expired or is not yet valid.",
        SecurityTokenNotYetValidException => "The token is not yet valid.",
        SecurityTokenInvalidIssuerException => "The token's issuer is not accepted.",
        SecurityTokenInvalidAudienceException => "The token's audience is not accepted.",
        SecurityTokenInvalidAlgorithmException => "The token's algorithm is not accepted.",
        SecurityTokenSignatureKeyNotFoundException => "The token's signing key is not known.",
        SecurityTokenInvalidSignatureException => "The token's signature is invalid.",
        _ => "The token is invalid.",
    };

    public void Dispose() => _validated.Dispose();

    private sealed record CachedPrincipal(ClaimsPrincipal Principal, DateTimeOffset ExpiresAt);
}
