using System.Security.Claims;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.IdentityModel.Tokens;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// API keys of service accounts: <c>mlk_&lt;key id&gt;_&lt;secret&gt;</c>. Only the secret's SHA-256 is
/// stored (the secret has 256 bits of entropy, so a slow hash adds nothing). Valid keys are
/// remembered for a few seconds; a revocation on this host forgets them at once.
/// </summary>
public sealed class ApiKeyService(IServiceScopeFactory scopes, IAuditLog audit, TimeProvider clock) : IDisposable
{
    public const string Prefix = "mlk_";
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan LastUseResolution = TimeSpan.FromMinutes(1);
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = 10_000 });

    public static (Guid KeyId, string Key, byte[] SecretHash) Create()
    {
        var keyId = Guid.NewGuid();
        var secret = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(32));
        return (keyId, $"{Prefix}{keyId:N}_{secret}", SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret)));
    }

    public static bool LooksLikeKey(string value) => value.StartsWith(Prefix, StringComparison.Ordinal);

    public void Forget(Guid keyId) => _cache.Remove(keyId);

    public async ValueTask<(ClaimsPrincipal? Principal, string? Error)> ValidateAsync(string key, CancellationToken cancellationToken)
    {
        if (key.Length is < 40 or > 200 || key[Prefix.Length..].Split('_', 2) is not [var idText, var secret]
            || !Guid.TryParseExact(idText, "N", out var keyId))
        {
            return (null, "The API key is malformed.");
        }

        var now = clock.GetUtcNow();
        if (!_cache.TryGetValue(keyId, out KnownKey? known))
        {
            known = await Load(keyId, cancellationToken);
            _cache.Set(keyId, known, new MemoryCacheEntryOptions { Size = 1, AbsoluteExpirationRelativeToNow = CacheFor });
        }

        var hash = SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(secret));
        if (known is null || !CryptographicOperations.FixedTimeEquals(hash, known.SecretHash) || known.RevokedAt is not null)
        {
            return (null, "The API key is not valid.");
        }

        if (known.ExpiresAt <= now)
        {
            return (null, "The API key has expired.");
        }

        if (known.LastUsedAt is null || now - known.LastUsedAt > LastUseResolution)
        {
            known.LastUsedAt = now;
            await RecordUse(keyId, known, now, cancellationToken);
        }

        return (known.Principal, null);
    }

    private async Task<KnownKey?> Load(Guid keyId, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UserManagementDbContext>();
        var row = await (
            from key in db.ApiKeys.AsNoTracking()
            join account in db.ServiceAccounts.AsNoTracking() on key.ServiceAccountId equals account.Id
            where key.Id == keyId
            select new { key.SecretHash, key.ExpiresAt, key.RevokedAt, key.LastUsedAt, account.Id, account.Name, account.ProjectId, account.Role })
            .SingleOrDefaultAsync(cancellationToken);
        if (row is null)
        {
            return null;
        }

        var identity = new ClaimsIdentity(
            [
                new Claim(PlatformClaims.Subject, row.Id.ToString()),
                new Claim(PlatformClaims.Name, row.Name),
                new Claim(PlatformClaims.PrincipalType, "service"),
                new Claim(PlatformClaims.ServiceProject, row.ProjectId.ToString()),
                new Claim(PlatformClaims.ServiceRole, row.Role.ToString()),
                new Claim("mlp_key", keyId.ToString()),
            ],
            "ApiKey",
            PlatformClaims.Name,
            null);
        return new KnownKey(row.SecretHash, row.ExpiresAt, row.RevokedAt, new ClaimsPrincipal(identity)) { LastUsedAt = row.LastUsedAt };
    }

    private async Task RecordUse(Guid keyId, KnownKey known, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UserManagementDbContext>();
        await db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(s => s.SetProperty(k => k.LastUsedAt, now), cancellationToken);
        await audit.RecordAsync(
            new AuditEvent("apikey.used", AuditOutcomes.Success, $"apikey/{keyId}", Guid.Parse(known.Principal.FindFirstValue(PlatformClaims.ServiceProject)!),
                ActorOverride: known.Principal.FindFirstValue(PlatformClaims.Subject), ActorTypeOverride: "service"),
            cancellationToken);
    }

    public void Dispose() => _cache.Dispose();

    private sealed record KnownKey(byte[] SecretHash, DateTimeOffset ExpiresAt, DateTimeOffset? RevokedAt, ClaimsPrincipal Principal)
    {
        public DateTimeOffset? LastUsedAt { get; set; }
    }
}
