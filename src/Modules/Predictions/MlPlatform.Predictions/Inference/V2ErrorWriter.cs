using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// The Open Inference Protocol answers every error as <c>{"error": "..."}</c>. Our V2 handlers
/// write that themselves; this writer covers what is answered before or around them through the
/// host's problem-details service (the body limit's 413, authentication's 401/403, the rate
/// limiter's 429, unknown routes and methods from the status-code pages, unhandled exceptions),
/// so a V2 client never meets problem+json. Everything outside <c>/v2</c> is left to the default writer.
/// </summary>
internal sealed class V2ErrorWriter : IProblemDetailsWriter
{
    public static readonly PathString Prefix = new("/v2");

    public bool CanWrite(ProblemDetailsContext context) =>
        context.HttpContext.Request.Path.StartsWithSegments(Prefix, StringComparison.OrdinalIgnoreCase);

    public async ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var response = context.HttpContext.Response;
        var problem = context.ProblemDetails;
        var status = problem.Status ?? response.StatusCode;
        response.StatusCode = status;
        response.ContentType = "application/json";
        await using (var writer = new Utf8JsonWriter(response.BodyWriter, DataPlane.ErrorJson))
        {
            writer.WriteStartObject();
            writer.WriteString("error", Message(problem, status));
            writer.WriteEndObject();
        }

        // The JSON writer only advances the pipe; flushing hands the bytes to whatever body is below.
        await response.BodyWriter.FlushAsync(context.HttpContext.RequestAborted);
    }

    private static string Message(Microsoft.AspNetCore.Mvc.ProblemDetails problem, int status)
    {
        if (problem is HttpValidationProblemDetails { Errors.Count: > 0 } validation)
        {
            return string.Join(" ", validation.Errors.SelectMany(e => e.Value).Distinct());
        }

        if (!string.IsNullOrWhiteSpace(problem.Detail))
        {
            return problem.Detail;
        }

        // The status-code pages carry no detail: say what the status means for a V2 client.
        return status switch
        {
            StatusCodes.Status404NotFound => "Not found: no such V2 resource.",
            StatusCodes.Status405MethodNotAllowed => "Method not allowed on this V2 resource.",
            _ => problem.Title ?? ReasonPhrases.GetReasonPhrase(status),
        };
    }

    /// <summary>
    /// Puts the writer ahead of the default one: the problem-details service asks its writers in
    /// registration order and the host registers the default before the modules add theirs.
    /// </summary>
    public static void Register(IServiceCollection services)
    {
        var descriptor = ServiceDescriptor.Singleton<IProblemDetailsWriter, V2ErrorWriter>();
        var first = services.Select((d, i) => (d, i)).FirstOrDefault(x => x.d.ServiceType == typeof(IProblemDetailsWriter));
        if (first.d is null)
        {
            services.Add(descriptor);
        }
        else
        {
            services.Insert(first.i, descriptor);
        }
    }
}
