using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.Predictions;

/// <summary><c>Predictions:*</c> settings, read and checked once at start.</summary>
public sealed record PredictionsSettings
{
    /// <summary>Largest inference request body (V2 /infer and /predict); 413 beyond it.</summary>
    public long MaxRequestBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>Production endpoints take approved versions only.</summary>
    public bool ProductionRequiresApproved { get; init; } = true;

    /// <summary>Reject NaN and ±Inf in request tensors (400) unless false.</summary>
    public bool RejectNonFinite { get; init; } = true;

    /// <summary>Sum of the file sizes of loaded models above which idle ones are unloaded, least recently used first.</summary>
    public long MemoryBudgetBytes { get; init; } = 2L << 30;

    /// <summary>A model unused this long is unloaded.</summary>
    public TimeSpan IdleUnloadAfter { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>How often every table's revision is compared with the database (one small query): the safety net behind <see cref="ChangePollInterval"/>.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often each host reads the module's outbox for endpoint changes made on any host (how soon a cluster converges).</summary>
    public TimeSpan ChangePollInterval { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>How long a caller's Read right on an endpoint's project is remembered on the data plane.</summary>
    public TimeSpan AccessCacheFor { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Default bound of waiting requests per endpoint when the endpoint sets none.</summary>
    public int DefaultMaxQueue { get; init; } = 1024;

    /// <summary>How long a batch job's host holds it without renewing (renewed every third of it while the job runs).</summary>
    public TimeSpan BatchLeaseDuration { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often a host looks for batch jobs whose host was lost (lease expired).</summary>
    public TimeSpan BatchSweepInterval { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Starts of a batch job, its first included, before a lost host makes it fail instead of resuming.</summary>
    public int BatchMaxAttempts { get; init; } = 3;

    /// <summary>
    /// Threads per session that split one Run's operators; 0 in configuration means the processor
    /// count .NET reports, set explicitly: left to itself, ONNX Runtime counts the machine's physical
    /// cores (not a container's CPU limit) and pins each session's threads to them, so every
    /// session's workers share the same cores with each other and with the host's own threads.
    /// </summary>
    public int IntraOpThreads { get; init; } = Environment.ProcessorCount;

    public int InterOpThreads { get; init; }

    /// <summary>
    /// ONNX Runtime's intra-op threads spin between runs by default, which buys microseconds on an
    /// idle machine and burns cores on a shared one; off unless asked for.
    /// </summary>
    public bool AllowSpinning { get; init; }

    public GraphOptimizationLevel OptimizationLevel { get; init; } = GraphOptimizationLevel.ORT_ENABLE_ALL;

    /// <summary>Folder of the local model file cache; default {DataDirectory}/model-cache.</summary>
    public string? CacheDirectory { get; init; }

    public static PredictionsSettings Read(IConfiguration configuration)
    {
        var s = configuration.GetSection("Predictions");
        var defaults = new PredictionsSettings();
        return new PredictionsSettings
        {
            MaxRequestBytes = Long(s, "MaxRequestBytes", defaults.MaxRequestBytes),
            ProductionRequiresApproved = Bool(s, "Production:RequireApproved", defaults.ProductionRequiresApproved),
            RejectNonFinite = Bool(s, "RejectNonFinite", defaults.RejectNonFinite),
            MemoryBudgetBytes = Long(s, "Sessions:MemoryBudgetBytes", defaults.MemoryBudgetBytes),
            IdleUnloadAfter = Span(s, "Sessions:IdleUnloadAfter", defaults.IdleUnloadAfter),
            RefreshInterval = Span(s, "RefreshInterval", defaults.RefreshInterval),
            ChangePollInterval = Span(s, "ChangePollInterval", defaults.ChangePollInterval),
            AccessCacheFor = Span(s, "AccessCacheFor", defaults.AccessCacheFor),
            DefaultMaxQueue = (int)Long(s, "DefaultMaxQueue", defaults.DefaultMaxQueue),
            BatchLeaseDuration = Span(s, "Batch:LeaseDuration", defaults.BatchLeaseDuration),
            BatchSweepInterval = Span(s, "Batch:SweepInterval", defaults.BatchSweepInterval),
            BatchMaxAttempts = (int)Math.Min(Long(s, "Batch:MaxAttempts", defaults.BatchMaxAttempts), 100),
            IntraOpThreads = (int)Long(s, "Sessions:IntraOpThreads", 0, allowZero: true) is > 0 and var threads ? threads : defaults.IntraOpThreads,
            InterOpThreads = (int)Long(s, "Sessions:InterOpThreads", 0, allowZero: true),
            OptimizationLevel = Level(s["Sessions:OptimizationLevel"]),
            AllowSpinning = Bool(s, "Sessions:AllowSpinning", false),
            CacheDirectory = string.IsNullOrWhiteSpace(s["Sessions:CacheDirectory"]) ? null : s["Sessions:CacheDirectory"],
        };
    }

    private static long Long(IConfigurationSection s, string key, long fallback, bool allowZero = false)
    {
        if (s[key] is not { Length: > 0 } text)
        {
            return fallback;
        }

        if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < 0 || (value == 0 && !allowZero))
        {
            throw new InvalidConfigurationException("Predictions:" + key, $"'{text}' is not a positive whole number.");
        }

        return value;
    }

    private static bool Bool(IConfigurationSection s, string key, bool fallback)
    {
        if (s[key] is not { Length: > 0 } text)
        {
            return fallback;
        }

        return bool.TryParse(text, out var value) ? value : throw new InvalidConfigurationException("Predictions:" + key, $"'{text}' is not true or false.");
    }

    private static TimeSpan Span(IConfigurationSection s, string key, TimeSpan fallback)
    {
        if (s[key] is not { Length: > 0 } text)
        {
            return fallback;
        }

        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > TimeSpan.Zero
            ? value
            : throw new InvalidConfigurationException("Predictions:" + key, $"'{text}' is not a positive time span (hh:mm:ss).");
    }

    private static GraphOptimizationLevel Level(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" or "all" => GraphOptimizationLevel.ORT_ENABLE_ALL,
        "none" or "disabled" => GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic" => GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended" => GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        _ => throw new InvalidConfigurationException("Predictions:Sessions:OptimizationLevel", $"'{text}' is not one of none, basic, extended, all."),
    };
}
