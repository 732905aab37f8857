using System.Globalization;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.DataPipelines.Training;

/// <summary>The <c>Training</c> section: data limits and the SageMaker backend's endpoint and credentials.</summary>
public sealed record TrainingSettings
{
    public const string Section = "Training";

    /// <summary>Training and evaluation read the data whole into memory, so they refuse larger objects.</summary>
    public long MaxDataBytes { get; init; } = 256L * 1024 * 1024;

    public SageMakerSettings SageMaker { get; init; } = new();

    public static TrainingSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var defaults = new TrainingSettings();
        var sageMaker = section.GetSection("SageMaker");
        var region = Text(sageMaker, "Region") ?? defaults.SageMaker.Region;
        var settings = new TrainingSettings
        {
            MaxDataBytes = Long(section, "MaxDataBytes", defaults.MaxDataBytes, 1, long.MaxValue),
            SageMaker = new SageMakerSettings
            {
                Region = region,
                ServiceUrl = Url(sageMaker, "ServiceUrl") ?? new Uri($"https://api.sagemaker.{region}.amazonaws.com/"),
                AccessKey = Text(sageMaker, "AccessKey"),
                SecretKey = Text(sageMaker, "SecretKey"),
                SessionToken = Text(sageMaker, "SessionToken"),
                S3ServiceUrl = Url(sageMaker, "S3ServiceUrl"),
                S3ForcePathStyle = bool.TryParse(Text(sageMaker, "S3ForcePathStyle"), out var pathStyle) && pathStyle,
                PollInterval = Seconds(sageMaker, "PollIntervalSeconds", defaults.SageMaker.PollInterval),
                RequestTimeout = Seconds(sageMaker, "RequestTimeoutSeconds", defaults.SageMaker.RequestTimeout),
            },
        };
        if (string.IsNullOrEmpty(settings.SageMaker.AccessKey) != string.IsNullOrEmpty(settings.SageMaker.SecretKey))
        {
            throw new InvalidConfigurationException(Section + ":SageMaker:AccessKey", "AccessKey and SecretKey go together; leave both empty to use AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.");
        }

        return settings;
    }

    private static string? Text(IConfigurationSection section, string name) =>
        string.IsNullOrWhiteSpace(section[name]) ? null : section[name]!.Trim();

    private static Uri? Url(IConfigurationSection section, string name)
    {
        var text = Text(section, name);
        if (text is null)
        {
            return null;
        }

        return Uri.TryCreate(text, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)
            ? url
            : throw new InvalidConfigurationException($"{section.Path}:{name}", $"'{text}' is not an absolute http or https URL.");
    }

    private static long Long(IConfigurationSection section, string name, long fallback, long min, long max)
    {
        var text = Text(section, name);
        if (text is null)
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw new InvalidConfigurationException($"{section.Path}:{name}", $"'{text}' is not a whole number from {min} to {max}.");
    }

    private static TimeSpan Seconds(IConfigurationSection section, string name, TimeSpan fallback) =>
        TimeSpan.FromSeconds(Long(section, name, (long)fallback.TotalSeconds, 1, 86_400));
}

public sealed record SageMakerSettings
{
    public string Region { get; init; } = "us-east-1";

    public Uri ServiceUrl { get; init; } = new("https://api.sagemaker.us-east-1.amazonaws.com/");

    /// <summary>With <see cref="SecretKey"/>; both empty means the AWS_* environment variables.</summary>
    public string? AccessKey { get; init; }

    public string? SecretKey { get; init; }

    public string? SessionToken { get; init; }

    /// <summary>Where model artifacts outside the platform's own bucket are fetched from; null means AWS S3 in <see cref="Region"/>.</summary>
    public Uri? S3ServiceUrl { get; init; }

    public bool S3ForcePathStyle { get; init; }

    /// <summary>How long a step waits between DescribeTrainingJob calls unless the step says otherwise.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromSeconds(30);

    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Without the keys: settings get logged, secrets must not.</summary>
    public override string ToString() => $"SageMaker at {ServiceUrl} ({Region})";
}
