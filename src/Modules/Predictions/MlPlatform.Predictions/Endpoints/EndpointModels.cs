using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MlPlatform.Predictions.Endpoints;

/// <summary>A variant as a client writes it: exactly one of version (number) and alias.</summary>
public sealed record VariantSpec(string? Name, string? Model, JsonNode? Version, string? Alias, int? Weight);

public sealed record CacheSpec(bool Enabled, int? MaxEntries);

/// <summary>Micro-batching: at most <see cref="MaxBatchSize"/> rows per run, waiting at most <see cref="MaxDelayMs"/> for them.</summary>
public sealed record BatchingSpec(bool Enabled, int? MaxBatchSize, double? MaxDelayMs);

/// <summary>The whole description of an endpoint (create and replace).</summary>
public sealed record EndpointSpec(
    string? Name,
    string? Description,
    bool? Production,
    IReadOnlyList<VariantSpec>? Variants,
    VariantSpec? Shadow,
    CacheSpec? Cache,
    BatchingSpec? Batching,
    int? MaxQueue,
    int? MaxConcurrency);

public sealed record WeightsRequest(IReadOnlyDictionary<string, int>? Weights);

public sealed record VariantDto(
    string Name,
    string Model,
    int Version,
    string? Alias,
    string Status,
    int Weight,
    bool Shadow,
    bool Loaded,
    long Requests,
    long Errors);

public sealed record ShadowStatsDto(long Runs, long Failures, long Skipped, double MeanMilliseconds, double MaxDifference, double MeanDifference);

public sealed record EndpointDto(
    Guid Id,
    string Project,
    string Name,
    string? Description,
    bool Production,
    long Revision,
    IReadOnlyList<VariantDto> Variants,
    CacheSpec Cache,
    BatchingSpec Batching,
    int MaxQueue,
    int MaxConcurrency,
    ShadowStatsDto? ShadowStats,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

public static partial class EndpointRules
{
    /// <summary>Endpoint and variant names go into URLs and headers: lower-case letters, digits, '.', '_' and '-'.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,62}\z")]
    public static partial Regex NamePattern();

    public const string NameMessage = "Names must be 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.";

    public const int MaxVariants = 10;

    /// <summary>The V2 path of Triton's statistics of all models; an endpoint of this name would be out of reach there.</summary>
    public const string ReservedName = "stats";

    public const int MaxBatchSize = 4096;

    public const double MaxDelayMs = 1000;
}
