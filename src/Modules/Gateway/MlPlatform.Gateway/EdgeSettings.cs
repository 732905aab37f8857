using System.Net;
using Microsoft.Extensions.Configuration;
using MlPlatform.Gateway.Configuration;
using MlPlatform.Gateway.Contracts;

namespace MlPlatform.Gateway;

/// <summary>The <c>Gateway</c> section: everything the edge does to every request of every host.</summary>
public sealed record EdgeSettings(
    long MaxRequestBodyBytes,
    ForwardedHeadersSettings ForwardedHeaders,
    RateLimitSettings RateLimits,
    SecurityHeaderSettings SecurityHeaders,
    CorsSettings Cors,
    OutboundSettings Outbound)
{
    public const string Section = "Gateway";

    /// <summary>Reads and validates the section; an unusable value stops start-up naming its setting.</summary>
    public static EdgeSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var gateway = new SettingsReader(configuration, Section);
        return new EdgeSettings(
            gateway.Long("MaxRequestBodyBytes", 30 * 1024 * 1024, min: 1024),
            ForwardedHeadersSettings.Read(gateway.Section("ForwardedHeaders")),
            RateLimitSettings.Read(gateway.Section("RateLimits")),
            SecurityHeaderSettings.Read(gateway.Section("SecurityHeaders")),
            CorsSettings.Read(gateway.Section("Cors")),
            OutboundSettings.Read(gateway.Section("Outbound")));
    }
}

/// <summary>Which proxies may tell us the client's address and scheme (X-Forwarded-For/-Proto).</summary>
public sealed record ForwardedHeadersSettings(bool Enabled, IReadOnlyList<IPAddress> KnownProxies, IReadOnlyList<System.Net.IPNetwork> KnownNetworks, int ForwardLimit)
{
    internal static ForwardedHeadersSettings Read(SettingsReader section)
    {
        var proxies = new List<IPAddress>();
        foreach (var text in section.List("KnownProxies", []))
        {
            proxies.Add(IPAddress.TryParse(text, out var address) ? address : throw section.Invalid("KnownProxies", $"'{text}' is not an IP address."));
        }

        var networks = new List<System.Net.IPNetwork>();
        foreach (var text in section.List("KnownNetworks", []))
        {
            networks.Add(System.Net.IPNetwork.TryParse(text, out var network)
                ? network
                : throw section.Invalid("KnownNetworks", $"'{text}' is not a network in CIDR notation (e.g. 10.0.0.0/8)."));
        }

        return new ForwardedHeadersSettings(section.Bool("Enabled", false), proxies, networks, section.Int("ForwardLimit", 1, min: 1, max: 10));
    }
}

/// <summary>A token bucket: up to <see cref="PermitLimit"/> at once, refilled by <see cref="TokensPerPeriod"/> every <see cref="ReplenishmentPeriod"/>.</summary>
public sealed record TokenBucketSettings(int PermitLimit, int TokensPerPeriod, TimeSpan ReplenishmentPeriod, int QueueLimit)
{
    internal static TokenBucketSettings Read(SettingsReader section, TokenBucketSettings defaults)
    {
        var permits = section.Int("PermitLimit", defaults.PermitLimit, min: 1);
        return new TokenBucketSettings(
            permits,
            section.Int("TokensPerPeriod", Math.Min(defaults.TokensPerPeriod, permits), min: 1, max: permits),
            // The partitioned limiter replenishes its buckets on a 100 ms timer: shorter periods would not be honoured.
            section.Duration("ReplenishmentPeriod", defaults.ReplenishmentPeriod, min: TimeSpan.FromMilliseconds(100)),
            section.Int("QueueLimit", defaults.QueueLimit, min: 0, max: 10_000));
    }
}

public sealed record RateLimitSettings(bool Enabled, TokenBucketSettings Authenticated, TokenBucketSettings Anonymous, TokenBucketSettings Auth)
{
    /// <summary>600 requests per 10 s for a user or service account, refilled every second.</summary>
    public static readonly TokenBucketSettings AuthenticatedDefault = new(600, 60, TimeSpan.FromSeconds(1), 0);

    /// <summary>120 requests per 10 s for a client address.</summary>
    public static readonly TokenBucketSettings AnonymousDefault = new(120, 12, TimeSpan.FromSeconds(1), 0);

    /// <summary>20 requests per minute for a client address on login and refresh.</summary>
    public static readonly TokenBucketSettings AuthDefault = new(20, 1, TimeSpan.FromSeconds(3), 0);

    internal static RateLimitSettings Read(SettingsReader section) => new(
        section.Bool("Enabled", true),
        TokenBucketSettings.Read(section.Section("Authenticated"), AuthenticatedDefault),
        TokenBucketSettings.Read(section.Section("Anonymous"), AnonymousDefault),
        TokenBucketSettings.Read(section.Section(nameof(EdgePolicies.Auth)), AuthDefault));
}

/// <summary>Response headers that tell browsers to be strict with what we send; an empty value leaves a header out.</summary>
public sealed record SecurityHeaderSettings(
    bool Enabled,
    string ContentSecurityPolicy,
    string DocsContentSecurityPolicy,
    string FrameOptions,
    string ReferrerPolicy,
    string CrossOriginOpenerPolicy,
    string PermissionsPolicy,
    string StrictTransportSecurity)
{
    public const string DefaultContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'";

    /// <summary>
    /// The API reference loads its own scripts, styles, icon and the OpenAPI document from this host.
    /// Its inline bootstrap script is allowed by hash (added per response), so no 'unsafe-inline'
    /// for scripts; its components set styles inline, which hashes cannot cover.
    /// </summary>
    public const string DefaultDocsContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; " +
        "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

    public const string DefaultPermissionsPolicy =
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

    internal static SecurityHeaderSettings Read(SettingsReader section) => new(
        section.Bool("Enabled", true),
        HeaderValue(section, "ContentSecurityPolicy", DefaultContentSecurityPolicy),
        HeaderValue(section, "DocsContentSecurityPolicy", DefaultDocsContentSecurityPolicy),
        HeaderValue(section, "FrameOptions", "DENY"),
        HeaderValue(section, "ReferrerPolicy", "no-referrer"),
        HeaderValue(section, "CrossOriginOpenerPolicy", "same-origin"),
        HeaderValue(section, "PermissionsPolicy", DefaultPermissionsPolicy),
        HeaderValue(section, "StrictTransportSecurity", "max-age=31536000; includeSubDomains"));

    private static string HeaderValue(SettingsReader section, string name, string fallback)
    {
        var value = section.String(name, fallback).Trim();
        // A value Kestrel refuses to send would turn every response into a failure.
        return value.All(c => c is >= ' ' and <= '~')
            ? value
            : throw section.Invalid(name, "a header value may only contain printable ASCII characters.");
    }
}

/// <summary>Which browser origins may call the API; no origins means CORS is off.</summary>
public sealed record CorsSettings(
    IReadOnlyList<string> AllowedOrigins,
    IReadOnlyList<string> AllowedMethods,
    IReadOnlyList<string> AllowedHeaders,
    IReadOnlyList<string> ExposedHeaders,
    bool AllowCredentials,
    TimeSpan MaxAge)
{
    public static readonly IReadOnlyList<string> DefaultMethods = ["GET", "POST", "PUT", "PATCH", "DELETE"];

    public static readonly IReadOnlyList<string> DefaultHeaders = ["Authorization", "Content-Type", "X-Api-Key", EdgeHeaders.CorrelationId];

    /// <summary>Browsers hide response headers from scripts unless exposed: these are always exposed.</summary>
    public static readonly IReadOnlyList<string> AlwaysExposed =
    [
        EdgeHeaders.CorrelationId, EdgeHeaders.RetryAfter, EdgeHeaders.RateLimitLimit, EdgeHeaders.RateLimitRemaining, EdgeHeaders.RateLimitReset, "Location",
    ];

    public bool Enabled => AllowedOrigins.Count > 0;

    public bool AnyOrigin => AllowedOrigins is ["*"];

    internal static CorsSettings Read(SettingsReader section)
    {
        var origins = section.List("AllowedOrigins", []);
        if (origins.Contains("*") && origins.Count > 1)
        {
            throw section.Invalid("AllowedOrigins", "'*' allows every origin and cannot be combined with others.");
        }

        var normalized = origins.Select(o => o == "*" ? o : Origin(section, o)).Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
        var credentials = section.Bool("AllowCredentials", false);
        if (credentials && normalized is ["*"])
        {
            throw section.Invalid("AllowCredentials", "cannot be true when Gateway:Cors:AllowedOrigins is '*': browsers refuse credentials for any origin; list the origins.");
        }

        return new CorsSettings(
            normalized,
            Tokens(section, "AllowedMethods", DefaultMethods),
            Tokens(section, "AllowedHeaders", DefaultHeaders),
            AlwaysExposed.Concat(Tokens(section, "ExposedHeaders", [])).Distinct(StringComparer.OrdinalIgnoreCase).ToArray(),
            credentials,
            section.Duration("MaxAge", TimeSpan.FromMinutes(10), TimeSpan.Zero));
    }

    /// <summary>An origin is scheme://host[:port], nothing more; browsers send it without a trailing slash.</summary>
    private static string Origin(SettingsReader section, string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0 || uri.UserInfo.Length > 0)
        {
            throw section.Invalid("AllowedOrigins", $"'{text}' is not an origin such as https://app.example.com (scheme, host and optional port only).");
        }

        return uri.GetLeftPart(UriPartial.Authority);
    }

    private static string[] Tokens(SettingsReader section, string name, IReadOnlyList<string> fallback)
    {
        var values = section.List(name, fallback);
        foreach (var value in values)
        {
            if (value != "*" && !value.All(c => char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)))
            {
                throw section.Invalid(name, $"'{value}' is not an HTTP token.");
            }
        }

        return [.. values];
    }
}

/// <summary>Timeouts, retries and the circuit breaker for every HttpClient made by IHttpClientFactory.</summary>
public sealed record OutboundSettings(
    TimeSpan TotalTimeout,
    TimeSpan AttemptTimeout,
    int MaxRetries,
    TimeSpan RetryDelay,
    bool RetryUnsafeMethods,
    double CircuitBreakerFailureRatio,
    int CircuitBreakerMinimumThroughput,
    TimeSpan CircuitBreakerSamplingDuration,
    TimeSpan CircuitBreakerBreakDuration)
{
    internal static OutboundSettings Read(SettingsReader section)
    {
        // Bounds are Polly's own; checking them here turns a first-request failure into a start-up message.
        var minTimeout = TimeSpan.FromMilliseconds(10);
        var total = section.Duration("TotalTimeout", TimeSpan.FromSeconds(30), minTimeout);
        var attempt = section.Duration("AttemptTimeout", TimeSpan.FromSeconds(10), minTimeout);
        if (attempt > total)
        {
            throw section.Invalid("AttemptTimeout", $"{attempt} is longer than Gateway:Outbound:TotalTimeout ({total}).");
        }

        var breaker = section.Section("CircuitBreaker");
        var sampling = breaker.Duration("SamplingDuration", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(500));
        if (sampling < attempt * 2)
        {
            throw breaker.Invalid("SamplingDuration", $"{sampling} must be at least twice Gateway:Outbound:AttemptTimeout ({attempt}).");
        }

        return new OutboundSettings(
            total,
            attempt,
            section.Int("MaxRetries", 3, min: 0, max: 10),
            section.Duration("RetryDelay", TimeSpan.FromSeconds(2), TimeSpan.Zero),
            section.Bool("RetryUnsafeMethods", false),
            breaker.Double("FailureRatio", 0.1, minExclusive: 0, max: 1),
            breaker.Int("MinimumThroughput", 100, min: 2),
            sampling,
            breaker.Duration("BreakDuration", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500)));
    }
}
