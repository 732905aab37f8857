using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.DataPipelines;

/// <summary><c>DataPipelines:*</c> settings, read and checked once at start.</summary>
public sealed partial record DataPipelinesSettings(long MaxUploadBytes, string WorkDirectory, Uri? OpenLineageUrl, string? OpenLineageApiKey, TimeSpan DeliveryInterval)
{
    /// <summary>Default upload limit: 2 GiB.</summary>
    public const long DefaultMaxUploadBytes = 2L << 30;

    /// <summary>Default bound of the dataset cache folder: 10 GiB.</summary>
    public const long DefaultCacheMaxBytes = 10L << 30;

    /// <summary><c>DataPipelines:Cache:MaxBytes</c>: the local copies of dataset versions are evicted, least recently used first, beyond this.</summary>
    public long CacheMaxBytes { get; init; } = DefaultCacheMaxBytes;

    /// <summary><c>DataPipelines:Engine:*</c>: DuckDB's memory and spill settings for each operation.</summary>
    public EngineSettings Engine { get; init; } = new();

    public string CacheDirectory => Path.Combine(WorkDirectory, "cache");

    public static DataPipelinesSettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("DataPipelines");
        var max = DefaultMaxUploadBytes;
        if (section["MaxUploadBytes"] is { Length: > 0 } text && (!long.TryParse(text, out max) || max <= 0))
        {
            throw new InvalidConfigurationException("DataPipelines:MaxUploadBytes", $"'{text}' is not a positive number of bytes.");
        }

        var cacheMax = DefaultCacheMaxBytes;
        if (section["Cache:MaxBytes"] is { Length: > 0 } cacheText && (!long.TryParse(cacheText, NumberStyles.Integer, CultureInfo.InvariantCulture, out cacheMax) || cacheMax <= 0))
        {
            throw new InvalidConfigurationException("DataPipelines:Cache:MaxBytes", $"'{cacheText}' is not a positive number of bytes.");
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
        return new DataPipelinesSettings(max, Path.GetFullPath(work), url, section["OpenLineage:ApiKey"], interval)
        {
            CacheMaxBytes = cacheMax,
            Engine = EngineSettings.Read(section.GetSection("Engine")),
        };
    }
}

/// <summary>
/// DuckDB's resources per operation (each operation has its own in-memory database). Past
/// <see cref="MemoryLimit"/> DuckDB spills to <see cref="TempDirectory"/>, so a file need not fit in memory.
/// </summary>
public sealed partial record EngineSettings
{
    /// <summary>Default memory limit of one operation's DuckDB: 2GB (DuckDB's own default is 80% of the machine's memory, per database).</summary>
    public const string DefaultMemoryLimit = "2GB";

    /// <summary>DuckDB's <c>memory_limit</c>, e.g. 512MB or 4GB.</summary>
    public string MemoryLimit { get; init; } = DefaultMemoryLimit;

    /// <summary>
    /// Where operations spill (DuckDB's <c>temp_directory</c>; each operation gets its own folder
    /// inside). Null: a <c>spill</c> folder inside the operation's own folder under the work directory.
    /// </summary>
    public string? TempDirectory { get; init; }

    /// <summary>DuckDB's <c>max_temp_directory_size</c> per operation; null keeps DuckDB's default (90% of the free disk).</summary>
    public string? MaxTempDirectorySize { get; init; }

    /// <summary>DuckDB's <c>threads</c> per operation; 0 keeps DuckDB's default (every core).</summary>
    public int Threads { get; init; }

    [GeneratedRegex(@"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex Size();

    public static EngineSettings Read(IConfigurationSection section)
    {
        ArgumentNullException.ThrowIfNull(section);
        string? Checked(string name)
        {
            var text = section[name];
            if (string.IsNullOrWhiteSpace(text))
            {
                return null;
            }

            return Size().IsMatch(text.Trim())
                ? text.Trim()
                : throw new InvalidConfigurationException($"{section.Path}:{name}", $"'{text}' is not a size such as 512MB or 4GB.");
        }

        var threads = 0;
        if (section["Threads"] is { Length: > 0 } threadText
            && (!int.TryParse(threadText, NumberStyles.Integer, CultureInfo.InvariantCulture, out threads) || threads < 0 || threads > 1024))
        {
            throw new InvalidConfigurationException($"{section.Path}:Threads", $"'{threadText}' is not a number of threads from 0 (all cores) to 1024.");
        }

        var temp = section["TempDirectory"] is { Length: > 0 } folder ? Path.GetFullPath(folder) : null;
        if (temp is not null)
        {
            Directory.CreateDirectory(temp);
        }

        return new EngineSettings
        {
            MemoryLimit = Checked("MemoryLimit") ?? DefaultMemoryLimit,
            TempDirectory = temp,
            MaxTempDirectorySize = Checked("MaxTempDirectorySize"),
            Threads = threads,
        };
    }
}
