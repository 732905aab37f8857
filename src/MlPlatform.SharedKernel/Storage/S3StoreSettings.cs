using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.SharedKernel.Storage;

/// <summary>The <c>Storage:S3</c> section: where the S3 (or S3-compatible) artifact store lives and how hard to try.</summary>
public sealed partial record S3StoreSettings
{
    public const string Section = "Storage:S3";

    /// <summary>S3 refuses smaller parts (except the last one).</summary>
    public const int MinPartSizeBytes = 5 * 1024 * 1024;

    /// <summary>Parts are buffered in one pooled array, so keep them well below the 2 GiB array limit.</summary>
    public const int MaxPartSizeBytes = 1024 * 1024 * 1024;

    /// <summary>Endpoint of an S3-compatible server (MinIO, s3rver); null means AWS itself, chosen by <see cref="Region"/>.</summary>
    public Uri? ServiceUrl { get; init; }

    public string Region { get; init; } = "us-east-1";

    public required string Bucket { get; init; }

    /// <summary>With <see cref="SecretKey"/>; both empty means the SDK's default credential chain (environment, profile, instance role).</summary>
    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }

    public bool ForcePathStyle { get; init; }

    /// <summary>Create the bucket on first use when it is missing (development and tests).</summary>
    public bool CreateBucket { get; init; }

    /// <summary>Per attempt of one S3 call.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(100);

    public int MaxRetries { get; init; } = 3;

    public int PartSizeBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Folder inside the bucket for this deployment, so several can share one bucket; empty for the bucket root.</summary>
    public string Prefix { get; init; } = string.Empty;

    /// <summary>Keys per ListObjectsV2 page; S3's own maximum by default, small in tests to exercise paging.</summary>
    internal int ListPageSize { get; init; } = 1000;

    /// <summary>First retry delay; later ones grow exponentially with jitter.</summary>
    internal TimeSpan RetryBaseDelay { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The prefix as stored in front of every key: empty or ending with '/'.</summary>
    internal string KeyPrefix => Prefix.Trim('/') is { Length: > 0 } p ? p + "/" : string.Empty;

    /// <summary>Without the keys: settings get logged, secrets must not.</summary>
    public override string ToString() =>
        $"S3 bucket '{Bucket}' prefix '{KeyPrefix}' at {ServiceUrl?.ToString() ?? "AWS " + Region}";

    /// <summary>Reads and validates the section; a bad value names its setting.</summary>
    public static S3StoreSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection("Storage:S3");
        var defaults = new S3StoreSettings { Bucket = string.Empty };

        Uri? serviceUrl = null;
        var serviceUrlText = section["ServiceUrl"];
        if (!string.IsNullOrWhiteSpace(serviceUrlText))
        {
            if (!Uri.TryCreate(serviceUrlText, UriKind.Absolute, out serviceUrl) || (serviceUrl.Scheme != Uri.UriSchemeHttp && serviceUrl.Scheme != Uri.UriSchemeHttps))
            {
                throw new InvalidConfigurationException(Section + ":ServiceUrl", $"'{serviceUrlText}' is not an absolute http or https URL.");
            }
        }

        var settings = new S3StoreSettings
        {
            ServiceUrl = serviceUrl,
            Region = string.IsNullOrWhiteSpace(section["Region"]) ? defaults.Region : section["Region"]!.Trim(),
            Bucket = section["Bucket"]?.Trim() ?? string.Empty,
            AccessKey = NullIfEmpty(section["AccessKey"]),
            SecretKey = NullIfEmpty(section["SecretKey"]),
            ForcePathStyle = ReadBool(section, "ForcePathStyle", defaults.ForcePathStyle),
            CreateBucket = ReadBool(section, "CreateBucket", defaults.CreateBucket),
            Timeout = ReadTimeSpan(section, "Timeout", defaults.Timeout),
            MaxRetries = (int)ReadLong(section, "MaxRetries", defaults.MaxRetries),
            PartSizeBytes = (int)ReadLong(section, "PartSizeBytes", defaults.PartSizeBytes),
            Prefix = section["Prefix"]?.Trim() ?? string.Empty,
        };
        settings.Validate();
        return settings;
    }

    /// <summary>Throws <see cref="InvalidConfigurationException"/> for the first unusable value.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Bucket))
        {
            throw new InvalidConfigurationException(Section + ":Bucket", "required when Storage:Provider is S3.");
        }

        if (!BucketName().IsMatch(Bucket))
        {
            throw new InvalidConfigurationException(Section + ":Bucket", $"'{Bucket}' is not a valid bucket name (3-63 lowercase letters, digits, dots and hyphens).");
        }

        if (ServiceUrl is not null && (!ServiceUrl.IsAbsoluteUri || (ServiceUrl.Scheme != Uri.UriSchemeHttp && ServiceUrl.Scheme != Uri.UriSchemeHttps)))
        {
            throw new InvalidConfigurationException(Section + ":ServiceUrl", $"'{ServiceUrl}' is not an absolute http or https URL.");
        }

        if (string.IsNullOrWhiteSpace(Region))
        {
            throw new InvalidConfigurationException(Section + ":Region", "must not be empty.");
        }

        if (string.IsNullOrEmpty(AccessKey) != string.IsNullOrEmpty(SecretKey))
        {
            var missing = string.IsNullOrEmpty(AccessKey) ? "AccessKey" : "SecretKey";
            throw new InvalidConfigurationException(Section + ":" + missing, "AccessKey and SecretKey go together; leave both empty to use the default credential chain.");
        }

        // Polly's timeout strategy accepts 10 ms to 1 day.
        if (Timeout < TimeSpan.FromMilliseconds(100) || Timeout > TimeSpan.FromDays(1))
        {
            throw new InvalidConfigurationException(Section + ":Timeout", $"'{Timeout}' is not between 00:00:00.1 and 1.00:00:00.");
        }

        if (MaxRetries is < 0 or > 10)
        {
            throw new InvalidConfigurationException(Section + ":MaxRetries", $"'{MaxRetries}' is not between 0 and 10.");
        }

        if (PartSizeBytes is < MinPartSizeBytes or > MaxPartSizeBytes)
        {
            throw new InvalidConfigurationException(Section + ":PartSizeBytes", $"'{PartSizeBytes}' is not between {MinPartSizeBytes} (5 MiB, the S3 minimum) and {MaxPartSizeBytes}.");
        }

        if (KeyPrefix.Length > 0)
        {
            try
            {
                ObjectKey.Validate(KeyPrefix[..^1]);
            }
            catch (InvalidObjectKeyException ex)
            {
                throw new InvalidConfigurationException(Section + ":Prefix", ex.Message);
            }
        }

        if (ListPageSize is < 1 or > 1000)
        {
            throw new InvalidConfigurationException(Section + ":ListPageSize", $"'{ListPageSize}' is not between 1 and 1000.");
        }
    }

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    private static bool ReadBool(IConfigurationSection section, string name, bool fallback)
    {
        var text = section[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return bool.TryParse(text.Trim(), out var value)
            ? value
            : throw new InvalidConfigurationException(Section + ":" + name, $"'{text}' is not true or false.");
    }

    private static long ReadLong(IConfigurationSection section, string name, long fallback)
    {
        var text = section[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        // Range checks happen in Validate; here only "is it a number that fits".
        return long.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value is >= int.MinValue and <= int.MaxValue
            ? value
            : throw new InvalidConfigurationException(Section + ":" + name, $"'{text}' is not a whole number up to {int.MaxValue}.");
    }

    private static TimeSpan ReadTimeSpan(IConfigurationSection section, string name, TimeSpan fallback)
    {
        var text = section[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return TimeSpan.TryParse(text.Trim(), CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidConfigurationException(Section + ":" + name, $"'{text}' is not a duration (hh:mm:ss).");
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex BucketName();
}
