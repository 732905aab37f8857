using System.Globalization;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.ModelRegistry;

/// <summary><c>ModelRegistry:*</c> settings, read and checked once at start.</summary>
public sealed record ModelRegistrySettings(long MaxUploadBytes, bool RequireTwoPersonApproval)
{
    /// <summary>Default upload limit: 1 GiB, room for most tabular and vision models.</summary>
    public const long DefaultMaxUploadBytes = 1L << 30;

    /// <summary>
    /// How long this host may answer a version read from memory without asking the database. Writes on
    /// this host and the registry's events delivered to it forget entries at once; the time bounds how
    /// stale another host's read can be (ADR 9). Zero turns the cache off.
    /// </summary>
    public TimeSpan LookupCacheTtl { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How often each host reads the registry's outbox for changes made on other hosts and forgets
    /// their cached reads (ADR 9): the bound on a cross-host stale read while the database answers.
    /// Zero turns following off (then only the TTL bounds it).
    /// </summary>
    public TimeSpan InvalidationPollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>At most this many versions and model names are held in memory.</summary>
    public int LookupCacheSize { get; init; } = 10_000;

    /// <summary>How often a <c>model.promote</c> step waiting for an approval looks again.</summary>
    public TimeSpan PromotePollInterval { get; init; } = TimeSpan.FromSeconds(5);

    public static ModelRegistrySettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("ModelRegistry");
        var max = DefaultMaxUploadBytes;
        if (section["MaxUploadBytes"] is { Length: > 0 } text && (!long.TryParse(text, out max) || max <= 0))
        {
            throw new InvalidConfigurationException("ModelRegistry:MaxUploadBytes", $"'{text}' is not a positive number of bytes.");
        }

        var twoPerson = true;
        if (section["RequireTwoPersonApproval"] is { Length: > 0 } flag && !bool.TryParse(flag, out twoPerson))
        {
            throw new InvalidConfigurationException("ModelRegistry:RequireTwoPersonApproval", $"'{flag}' is not true or false.");
        }

        var size = 10_000;
        if (section["LookupCacheSize"] is { Length: > 0 } sizeText && (!int.TryParse(sizeText, NumberStyles.None, CultureInfo.InvariantCulture, out size) || size <= 0))
        {
            throw new InvalidConfigurationException("ModelRegistry:LookupCacheSize", $"'{sizeText}' is not a positive number.");
        }

        return new ModelRegistrySettings(max, twoPerson)
        {
            LookupCacheTtl = Duration(section, "LookupCacheTtl", TimeSpan.FromSeconds(2), allowZero: true),
            LookupCacheSize = size,
            InvalidationPollInterval = Duration(section, "InvalidationPollInterval", TimeSpan.FromMilliseconds(250), allowZero: true),
            PromotePollInterval = Duration(section, "PromotePollInterval", TimeSpan.FromSeconds(5), allowZero: false),
        };
    }

    private static TimeSpan Duration(IConfigurationSection section, string name, TimeSpan fallback, bool allowZero)
    {
        if (section[name] is not { Length: > 0 } text)
        {
            return fallback;
        }

        if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) || value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero) || value > TimeSpan.FromHours(1))
        {
            throw new InvalidConfigurationException($"ModelRegistry:{name}", $"'{text}' is not a time span (hh:mm:ss) between {(allowZero ? "0" : "a moment")} and one hour.");
        }

        return value;
    }
}
