using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.IdentityModel.Tokens;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// ES256 signing keys: made at first start, rotated with overlap (the newest key signs; older keys
/// keep validating until the tokens they signed have expired), published as JWKS. Every host reads
/// the keys from the database, so a token signed by one host validates on all.
/// </summary>
public sealed partial class SigningKeyStore(
    IServiceScopeFactory scopes,
    UserManagementOptions options,
    KeyEncryption encryption,
    TimeProvider clock,
    ILogger<SigningKeyStore> logger)
{
    public const string Algorithm = SecurityAlgorithms.EcdsaSha256;

    private static readonly TimeSpan ReloadAtMostEvery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PublishedKeysMaxAge = TimeSpan.FromSeconds(30);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile KeySnapshot _snapshot = KeySnapshot.Empty;
    private DateTimeOffset _loadedAt = DateTimeOffset.MinValue;

    /// <summary>Loads the keys and makes a new signing key when none may sign any more.</summary>
    public async Task EnsureCurrentAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<UserManagementDbContext>();
            var snapshot = await Load(db, cancellationToken);
            if (snapshot.Signing is null || snapshot.SignUntil <= clock.GetUtcNow())
            {
                db.SigningKeys.Add(NewKey());
                await db.SaveChangesAsync(cancellationToken);
                snapshot = await Load(db, cancellationToken);
                LogKeyCreated(logger, snapshot.SigningKey!.KeyId);
            }

            _snapshot = snapshot;
            _loadedAt = clock.GetUtcNow();
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The credentials new tokens are signed with.</summary>
    public SigningCredentials SigningCredentials =>
        _snapshot.Signing is { } signing
            ? new SigningCredentials(signing.Key, Algorithm)
            : throw new InvalidOperationException("No signing key is loaded; EnsureCurrentAsync runs at start-up.");

    /// <summary>The keys tokens may be validated with; reloads once when a token names a key not seen yet.</summary>
    public async ValueTask<IReadOnlyCollection<SecurityKey>> ValidationKeysAsync(string? keyId, CancellationToken cancellationToken)
    {
        var snapshot = _snapshot;
        if (keyId is not null && !snapshot.Validation.ContainsKey(keyId) && clock.GetUtcNow() - _loadedAt > ReloadAtMostEvery)
        {
            await ReloadAsync(cancellationToken);
            snapshot = _snapshot;
        }

        return keyId is not null && snapshot.Validation.TryGetValue(keyId, out var key) ? [key] : [];
    }

    /// <summary>The public keys that validate tokens now, for /.well-known/jwks.json.</summary>
    public IReadOnlyList<JsonElement> PublishedKeys => _snapshot.Published;

    /// <summary>
    /// The published keys, re-read when this host's copy is older than <see cref="PublishedKeysMaxAge"/>, so
    /// a key another host of the cluster made shows up here within seconds, not at the next rotation check.
    /// </summary>
    public async ValueTask<IReadOnlyList<JsonElement>> PublishedKeysAsync(CancellationToken cancellationToken)
    {
        if (clock.GetUtcNow() - _loadedAt > PublishedKeysMaxAge)
        {
            await ReloadAsync(cancellationToken);
        }

        return _snapshot.Published;
    }

    private async Task ReloadAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (clock.GetUtcNow() - _loadedAt <= ReloadAtMostEvery)
            {
                return;
            }

            await using var scope = scopes.CreateAsyncScope();
            _snapshot = await Load(scope.ServiceProvider.GetRequiredService<UserManagementDbContext>(), cancellationToken);
            _loadedAt = clock.GetUtcNow();
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<KeySnapshot> Load(UserManagementDbContext db, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var keys = await db.SigningKeys.AsNoTracking().Where(k => k.ValidUntil > now).ToListAsync(cancellationToken);
        var validation = new Dictionary<string, SecurityKey>();
        var published = new List<JsonElement>();
        (ECDsaSecurityKey Key, DateTimeOffset SignUntil)? signing = null;
        foreach (var key in keys.OrderBy(k => k.CreatedAt))
        {
            var jwk = JsonSerializer.Deserialize<JsonElement>(key.PublicJwk);
            published.Add(jwk);
            validation[key.Id] = PublicKey(key.Id, jwk);
            if (key.SignUntil > now && encryption.TryOpen(key.ProtectedPrivateKey) is { } pkcs8)
            {
                var ecdsa = ECDsa.Create();
                ecdsa.ImportPkcs8PrivateKey(pkcs8, out _);
                CryptographicOperations.ZeroMemory(pkcs8);
                signing = (new ECDsaSecurityKey(ecdsa) { KeyId = key.Id }, key.SignUntil);
            }
        }

        return new KeySnapshot(validation.ToFrozenDictionary(), published, signing?.Key, signing?.SignUntil ?? DateTimeOffset.MinValue);
    }

    private SigningKey NewKey()
    {
        using var ecdsa = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var parameters = ecdsa.ExportParameters(includePrivateParameters: false);
        var kid = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(12));
        var jwk = JsonSerializer.Serialize(new Dictionary<string, string>
        {
            ["kty"] = "EC",
            ["crv"] = "P-256",
            ["x"] = Base64UrlEncoder.Encode(parameters.Q.X!),
            ["y"] = Base64UrlEncoder.Encode(parameters.Q.Y!),
            ["kid"] = kid,
            ["use"] = "sig",
            ["alg"] = Algorithm,
        });
        var now = clock.GetUtcNow();
        var signUntil = now + options.KeyRotation;
        return new SigningKey
        {
            Id = kid,
            Algorithm = Algorithm,
            PublicJwk = jwk,
            ProtectedPrivateKey = encryption.Seal(ecdsa.ExportPkcs8PrivateKey()),
            CreatedAt = now,
            SignUntil = signUntil,
            // Overlap: a token signed at the last moment stays valid for its whole lifetime.
            ValidUntil = signUntil + options.AccessTokenLifetime + TimeSpan.FromMinutes(5),
        };
    }

    private static ECDsaSecurityKey PublicKey(string keyId, JsonElement jwk)
    {
        var ecdsa = ECDsa.Create(new ECParameters
        {
            Curve = ECCurve.NamedCurves.nistP256,
            Q = new ECPoint
            {
                X = Base64UrlEncoder.DecodeBytes(jwk.GetProperty("x").GetString()),
                Y = Base64UrlEncoder.DecodeBytes(jwk.GetProperty("y").GetString()),
            },
        });
        return new ECDsaSecurityKey(ecdsa) { KeyId = keyId };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created signing key {KeyId}")]
    private static partial void LogKeyCreated(ILogger logger, string keyId);

    private sealed record KeySnapshot(
        FrozenDictionary<string, SecurityKey> Validation,
        IReadOnlyList<JsonElement> Published,
        ECDsaSecurityKey? SigningKey,
        DateTimeOffset SignUntil)
    {
        public static readonly KeySnapshot Empty = new(FrozenDictionary<string, SecurityKey>.Empty, [], null, DateTimeOffset.MinValue);

        public (ECDsaSecurityKey Key, DateTimeOffset SignUntil)? Signing => SigningKey is null ? null : (SigningKey, SignUntil);
    }
}
