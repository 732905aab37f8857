namespace MlPlatform.Gateway.Contracts;

/// <summary>
/// Names of the edge's rate-limiting policies, for <c>.RequireRateLimiting(EdgePolicies.Auth)</c>.
/// Every host registers them, whichever modules it runs.
/// </summary>
public static class EdgePolicies
{
    /// <summary>
    /// The stricter limit per client address for endpoints that guess-resistant secrets pass through
    /// (login, token refresh, password reset), on top of the global limit.
    /// </summary>
    public const string Auth = "auth";
}

/// <summary>Headers the edge reads or writes.</summary>
public static class EdgeHeaders
{
    /// <summary>Echoed when the caller's value is safe, otherwise generated; on every response.</summary>
    public const string CorrelationId = "X-Correlation-Id";

    public const string RateLimitLimit = "RateLimit-Limit";

    public const string RateLimitRemaining = "RateLimit-Remaining";

    public const string RateLimitReset = "RateLimit-Reset";

    public const string RetryAfter = "Retry-After";
}
