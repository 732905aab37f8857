using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.DataPipelines;

/// <summary><c>DataPipelines:*</c> settings, read and checked once at start.</summary>
public sealed record DataPipelinesSettings(long MaxUploadBytes, string WorkDirectory, Uri? OpenLineageUrl, string? OpenLineageApiKey, TimeSpan DeliveryInterval)
{
    /// <summary>Default upload limit: 2 GiB.</summary>
    public const long DefaultMaxUploadBytes = 2L << 30;

    public static DataPipelinesSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("DataPipelines");
        var max = DefaultMaxUploadBytes;
        if (section["MaxUploadBytes"] is { Length: > 0 } text && (!long.TryParse(text, out max) || max <= 0))
        {
            throw new InvalidConfigurationException("DataPipelines:MaxUploadBytes", $"'{text}' is not a positive number of bytes.");
        }

        Uri? url = null;
        if (section["OpenLineage:Url"] is { Length: > 0 } address
            && (!Uri.TryCreate(address, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https")))
        {
            throw new InvalidConfigurationException("DataPipelines:OpenLineage:Url", $"'{address}' is not an http(s) URL (e.g. http://localhost:5000/api/v1/lineage).");
        }

        var interval = TimeSpan.FromSeconds(2);
        if (section["OpenLineage:DeliveryInterval"] is { Length: > 0 } every && (!TimeSpan.TryParse(every, System.Globalization.CultureInfo.InvariantCulture, out interval) || interval <= TimeSpan.Zero))
        {
            throw new InvalidConfigurationException("DataPipelines:OpenLineage:DeliveryInterval", $"'{every}' is not a positive time span (hh:mm:ss).");
        }

        // Engine scratch space: the data directory when there is one, so big files stay off a small /tmp.
        var work = section["WorkDirectory"] is { Length: > 0 } folder
            ? folder
            : configuration["Platform:DataDirectory"] is { Length: > 0 } data ? Path.Combine(data, "data-work") : Path.Combine(Path.GetTempPath(), "mlp-data-work");
        Directory.CreateDirectory(work);
        return new DataPipelinesSettings(max, Path.GetFullPath(work), url, section["OpenLineage:ApiKey"], interval);
    }
}
