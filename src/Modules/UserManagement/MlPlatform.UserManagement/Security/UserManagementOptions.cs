using System.Globalization;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.UserManagement.Security;

/// <summary>Settings under <c>UserManagement</c>, read and checked once at start-up.</summary>
public sealed record UserManagementOptions
{
    public string BootstrapUsername { get; init; } = "admin";

    public string? BootstrapPassword { get; init; }

    public bool SelfRegistration { get; init; }

    public int PasswordMinLength { get; init; } = 12;

    public string Issuer { get; init; } = "mlplatform";

    public string Audience { get; init; } = "mlplatform-api";

    public TimeSpan AccessTokenLifetime { get; init; } = TimeSpan.FromMinutes(15);

    public TimeSpan RefreshTokenLifetime { get; init; } = TimeSpan.FromDays(14);

    public TimeSpan SessionLifetime { get; init; } = TimeSpan.FromDays(30);

    /// <summary>A new signing key is made when the newest is this old.</summary>
    public TimeSpan KeyRotation { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Base64 of 32 bytes; seals the private signing keys. Empty: a key file in the data directory.</summary>
    public string? KeyEncryptionKey { get; init; }

    /// <summary>Argon2id memory in KiB (OWASP minimum 19 MiB), iterations and lanes.</summary>
    public int Argon2MemoryKib { get; init; } = 19 * 1024;

    public int Argon2Iterations { get; init; } = 2;

    public int Argon2Parallelism { get; init; } = 1;

    /// <summary>Failed logins (per name and per client address) before answers slow down.</summary>
    public int LoginFailuresBeforeDelay { get; init; } = 3;

    /// <summary>Failed logins within <see cref="LoginFailureWindow"/> before 429.</summary>
    public int LoginFailuresBeforeLockout { get; init; } = 10;

    public TimeSpan LoginFailureWindow { get; init; } = TimeSpan.FromMinutes(15);

    public TimeSpan ApiKeyMaxLifetime { get; init; } = TimeSpan.FromDays(365);

    /// <summary>How long a host keeps a project's row and a caller's membership it read (changes made anywhere are followed sooner).</summary>
    public TimeSpan AuthorizationCacheFor { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often each host reads the membership changes other hosts made (<see cref="MembershipFollower"/>); zero turns it off.</summary>
    public TimeSpan MembershipPollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    public static UserManagementOptions Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("UserManagement");
        var options = new UserManagementOptions
        {
            BootstrapUsername = section["BootstrapAdmin:Username"] is { Length: > 0 } name ? name : "admin",
            BootstrapPassword = section["BootstrapAdmin:Password"] is { Length: > 0 } password ? password : null,
            SelfRegistration = Bool(section, "SelfRegistration:Enabled", false),
            PasswordMinLength = Int(section, "Passwords:MinLength", 12, 8, 128),
            Issuer = section["Tokens:Issuer"] is { Length: > 0 } issuer ? issuer : "mlplatform",
            Audience = section["Tokens:Audience"] is { Length: > 0 } audience ? audience : "mlplatform-api",
            AccessTokenLifetime = Duration(section, "Tokens:AccessTokenLifetime", TimeSpan.FromMinutes(15), TimeSpan.FromSeconds(30), TimeSpan.FromHours(24)),
            RefreshTokenLifetime = Duration(section, "Tokens:RefreshTokenLifetime", TimeSpan.FromDays(14), TimeSpan.FromMinutes(1), TimeSpan.FromDays(365)),
            SessionLifetime = Duration(section, "Tokens:SessionLifetime", TimeSpan.FromDays(30), TimeSpan.FromMinutes(1), TimeSpan.FromDays(365)),
            KeyRotation = Duration(section, "Tokens:KeyRotation", TimeSpan.FromDays(30), TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650)),
            KeyEncryptionKey = section["Tokens:KeyEncryptionKey"] is { Length: > 0 } kek ? kek : null,
            Argon2MemoryKib = Int(section, "Passwords:Argon2MemoryKib", 19 * 1024, 19 * 1024, 1024 * 1024),
            Argon2Iterations = Int(section, "Passwords:Argon2Iterations", 2, 2, 20),
            Argon2Parallelism = Int(section, "Passwords:Argon2Parallelism", 1, 1, 16),
            LoginFailuresBeforeDelay = Int(section, "Login:FailuresBeforeDelay", 3, 1, 1000),
            LoginFailuresBeforeLockout = Int(section, "Login:FailuresBeforeLockout", 10, 2, 10000),
            LoginFailureWindow = Duration(section, "Login:FailureWindow", TimeSpan.FromMinutes(15), TimeSpan.FromSeconds(1), TimeSpan.FromDays(1)),
            ApiKeyMaxLifetime = Duration(section, "ApiKeys:MaxLifetime", TimeSpan.FromDays(365), TimeSpan.FromMinutes(1), TimeSpan.FromDays(3650)),
            AuthorizationCacheFor = Duration(section, "Access:CacheFor", TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(1), TimeSpan.FromHours(1)),
            MembershipPollInterval = Duration(section, "Access:MembershipPollInterval", TimeSpan.FromMilliseconds(250), TimeSpan.Zero, TimeSpan.FromMinutes(10)),
        };

        if (options.KeyEncryptionKey is { } key && (!TryBase64(key, out var bytes) || bytes.Length != 32))
        {
            throw new InvalidConfigurationException("UserManagement:Tokens:KeyEncryptionKey", "must be the base64 of 32 random bytes.");
        }

        if (options.BootstrapPassword is { } bootstrap && bootstrap.Length < options.PasswordMinLength)
        {
            throw new InvalidConfigurationException("UserManagement:BootstrapAdmin:Password", $"must be at least {options.PasswordMinLength} characters.");
        }

        if (options.RefreshTokenLifetime > options.SessionLifetime)
        {
            throw new InvalidConfigurationException("UserManagement:Tokens:RefreshTokenLifetime", "must not exceed UserManagement:Tokens:SessionLifetime.");
        }

        return options;
    }

    private static bool TryBase64(string text, out byte[] bytes)
    {
        bytes = new byte[(text.Length * 3 / 4) + 3];
        if (Convert.TryFromBase64String(text, bytes, out var written))
        {
            bytes = bytes[..written];
            return true;
        }

        return false;
    }

    private static bool Bool(IConfiguration section, string key, bool fallback) =>
        section[key] is not { Length: > 0 } text ? fallback
        : bool.TryParse(text, out var value) ? value
        : throw new InvalidConfigurationException("UserManagement:" + key, $"'{text}' is not true or false.");

    private static int Int(IConfiguration section, string key, int fallback, int min, int max) =>
        section[key] is not { Length: > 0 } text ? fallback
        : int.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max ? value
        : throw new InvalidConfigurationException("UserManagement:" + key, $"'{text}' is not a whole number between {min} and {max}.");

    private static TimeSpan Duration(IConfiguration section, string key, TimeSpan fallback, TimeSpan min, TimeSpan max) =>
        section[key] is not { Length: > 0 } text ? fallback
        : TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max ? value
        : throw new InvalidConfigurationException("UserManagement:" + key, $"'{text}' is not a duration between {min} and {max}.");
}
