using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Gateway.Contracts;

namespace MlPlatform.Gateway.RateLimits;

/// <summary>The RateLimit headers (IETF httpapi draft) on accepted requests, and the 429 problem on refused ones.</summary>
internal static class RateLimitResponses
{
    public static async ValueTask WriteRejectionAsync(OnRejectedContext rejected, CancellationToken cancellationToken)
    {
        var context = rejected.HttpContext;
        var state = rejected.Lease.TryGetMetadata(EdgeRateLimiter.StateMetadata, out var known) ? known : null;
        var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : state?.Reset ?? TimeSpan.Zero;
        // "Retry-After: 0" would invite an immediate retry that is refused again.
        retryAfter = retryAfter < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retryAfter;
        var seconds = Seconds(retryAfter);

        context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
        context.Response.Headers[EdgeHeaders.RetryAfter] = seconds;
        if (state is not null)
        {
            WriteHeaders(context.Response, state with { Reset = retryAfter });
        }

        var problem = new ProblemDetails
        {
            Status = StatusCodes.Status429TooManyRequests,
            Title = "Too many requests",
            Detail = $"The rate limit for this client is exhausted; retry after {seconds} seconds.",
        };
        var problems = context.RequestServices.GetRequiredService<IProblemDetailsService>();
        if (!await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem }))
        {
            await context.Response.WriteAsync(problem.Detail, cancellationToken);
        }
    }

    /// <summary>Adds the headers of the request's bucket just before the response starts (so error responses keep them too).</summary>
    public static Func<HttpContext, RequestDelegate, Task> AnnounceOnSuccess(EdgeRateLimiter limiter) => (context, next) =>
    {
        if (limiter.Describe(context) is { } state)
        {
            context.Response.OnStarting(static s =>
            {
                var (response, state) = ((HttpResponse, RateLimitState))s;
                WriteHeaders(response, state);
                return Task.CompletedTask;
            }, (context.Response, state));
        }

        return next(context);
    };

    private static void WriteHeaders(HttpResponse response, RateLimitState state)
    {
        response.Headers[EdgeHeaders.RateLimitLimit] = state.Limit.ToString(CultureInfo.InvariantCulture);
        response.Headers[EdgeHeaders.RateLimitRemaining] = state.Remaining.ToString(CultureInfo.InvariantCulture);
        response.Headers[EdgeHeaders.RateLimitReset] = Seconds(state.Reset);
    }

    /// <summary>Whole seconds, rounded up: a client that waits this long is not refused again for the same reason.</summary>
    private static string Seconds(TimeSpan span) =>
        ((long)Math.Ceiling(Math.Max(0, span.TotalSeconds))).ToString(CultureInfo.InvariantCulture);
}
