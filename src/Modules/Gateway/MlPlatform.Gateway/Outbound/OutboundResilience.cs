using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace MlPlatform.Gateway.Outbound;

/// <summary>
/// Every HttpClient made by IHttpClientFactory, in every module, gets the standard resilience
/// handler: a total and a per-attempt timeout, retries with exponential back-off and jitter, and a
/// circuit breaker per remote authority (one failing server does not cut off the others).
/// </summary>
internal static class OutboundResilience
{
    public static void AddOutboundDefaults(this IServiceCollection services, OutboundSettings settings) =>
        services.ConfigureHttpClientDefaults(client => client
            .AddStandardResilienceHandler(options => Configure(options, settings))
            .SelectPipelineByAuthority());

    internal static void Configure(HttpStandardResilienceOptions options, OutboundSettings settings)
    {
        options.TotalRequestTimeout.Timeout = settings.TotalTimeout;
        options.AttemptTimeout.Timeout = settings.AttemptTimeout;

        options.Retry.BackoffType = DelayBackoffType.Exponential;
        options.Retry.UseJitter = true;
        options.Retry.Delay = settings.RetryDelay;
        // Polly needs at least one attempt configured; zero retries is "handle nothing".
        options.Retry.MaxRetryAttempts = Math.Max(1, settings.MaxRetries);
        if (settings.MaxRetries == 0)
        {
            options.Retry.ShouldHandle = _ => PredicateResult.False();
        }
        else if (!settings.RetryUnsafeMethods)
        {
            // A POST that timed out may still have happened on the server: repeating it is the caller's decision.
            options.Retry.DisableForUnsafeHttpMethods();
        }

        options.CircuitBreaker.FailureRatio = settings.CircuitBreakerFailureRatio;
        options.CircuitBreaker.MinimumThroughput = settings.CircuitBreakerMinimumThroughput;
        options.CircuitBreaker.SamplingDuration = settings.CircuitBreakerSamplingDuration;
        options.CircuitBreaker.BreakDuration = settings.CircuitBreakerBreakDuration;
    }
}
