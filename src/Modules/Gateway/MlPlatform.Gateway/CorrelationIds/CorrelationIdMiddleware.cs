using System.Diagnostics;
using Microsoft.AspNetCore.Http;
using MlPlatform.Gateway.Contracts;
using Serilog.Context;

namespace MlPlatform.Gateway.CorrelationIds;

/// <summary>
/// Gives every request a correlation id: the caller's <c>X-Correlation-Id</c> when it is safe to
/// log and echo, otherwise the W3C trace id (so logs, traces and the response agree). It is
/// echoed on the response, tagged on the request's activity and logged as <c>CorrelationId</c>.
/// </summary>
internal sealed class CorrelationIdMiddleware(RequestDelegate next)
{
    public const int MaxLength = 64;

    public const string LogProperty = "CorrelationId";

    public const string ActivityTag = "correlation.id";

    public async Task InvokeAsync(HttpContext context)
    {
        var id = context.Request.Headers[EdgeHeaders.CorrelationId] is [{ } given] && IsSafe(given)
            ? given
            : (Activity.Current?.TraceId ?? ActivityTraceId.CreateRandom()).ToHexString();

        Activity.Current?.SetTag(ActivityTag, id);
        // On starting, not now: the exception handler clears the headers of a failed response.
        context.Response.OnStarting(static state =>
        {
            var (response, id) = ((HttpResponse, string))state;
            response.Headers[EdgeHeaders.CorrelationId] = id;
            return Task.CompletedTask;
        }, (context.Response, id));

        using (LogContext.PushProperty(LogProperty, id))
        {
            await next(context);
        }
    }

    /// <summary>Short and plain, so a caller cannot forge log lines or inject header content.</summary>
    internal static bool IsSafe(string value) =>
        value.Length is > 0 and <= MaxLength && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
