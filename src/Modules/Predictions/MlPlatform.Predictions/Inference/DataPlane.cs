using System.Security.Claims;
using System.Text.Json;
using FluentValidation;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Inference;

/// <summary>Headers of the data plane.</summary>
public static class PredictionHeaders
{
    public const string Model = "X-Model-Name";
    public const string ModelVersion = "X-Model-Version";
    public const string Variant = "X-Variant";
    public const string Cache = "X-Cache";

    /// <summary>Sent by the caller: the same key keeps landing on the same variant.</summary>
    public const string RequestKey = "X-Request-Key";

    /// <summary>Sent by the caller: use this variant (by name or version number), for testing one.</summary>
    public const string SelectVariant = "X-Variant";
}

/// <summary>The request path shared by V2 /infer and /predict.</summary>
public sealed class DataPlane(EndpointRouter router, DataPlaneAccess access, InferenceEngine engine, PredictionsSettings settings)
{
    public PredictionsSettings Settings => settings;

    /// <summary>The endpoint the caller may read; 404 for one that does not exist or that the caller may not see.</summary>
    public async ValueTask<EndpointRuntime> EndpointAsync(ClaimsPrincipal caller, string name, CancellationToken cancellationToken)
    {
        var endpoint = await router.GetAsync(name, cancellationToken) ?? throw new NotFoundException("Endpoint", name);
        await access.EnsureAsync(caller, endpoint, cancellationToken);
        return endpoint;
    }

    /// <summary>The endpoints this host serves now (built on first use here), whoever may see them.</summary>
    public IReadOnlyCollection<EndpointRuntime> ServedEndpoints => router.Tables;

    /// <summary>Whether the caller may read the endpoint (a listing leaves out what a by-name call would answer 404 to).</summary>
    public async ValueTask<bool> MaySeeAsync(ClaimsPrincipal caller, EndpointRuntime endpoint, CancellationToken cancellationToken)
    {
        try
        {
            await access.EnsureAsync(caller, endpoint, cancellationToken);
            return true;
        }
        catch (PlatformException ex) when (ex.StatusCode is StatusCodes.Status403Forbidden or StatusCodes.Status404NotFound)
        {
            return false;
        }
    }

    public Task<InferenceResult> InferAsync(EndpointRuntime endpoint, VariantRuntime variant, IReadOnlyList<TensorData> inputs, IReadOnlyList<string>? outputs, bool useCache, CancellationToken cancellationToken) =>
        engine.InferAsync(endpoint, variant, inputs, outputs, useCache, cancellationToken);

    public static void WriteHeaders(HttpResponse response, InferenceResult result)
    {
        var headers = response.Headers;
        headers[PredictionHeaders.Model] = result.Variant.Model;
        headers[PredictionHeaders.ModelVersion] = result.Variant.VersionText;
        headers[PredictionHeaders.Variant] = result.Variant.Name;
        if (result.Endpoint.Cache is not null)
        {
            headers[PredictionHeaders.Cache] = result.CacheHit ? "hit" : "miss";
        }
    }

    /// <summary>
    /// Error text as people read it: quotes and accents as they are, not as \u0027 escapes (the
    /// default encoder's HTML-safe escaping is for JSON embedded in pages, which these never are).
    /// </summary>
    internal static readonly JsonWriterOptions ErrorJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>V2 errors are <c>{"error": "..."}</c> with the status of the failure.</summary>
    public static async Task WriteErrorAsync(HttpContext context, Exception exception)
    {
        var (status, message) = exception switch
        {
            ValidationException v => (400, string.Join(" ", v.Errors.Select(e => e.ErrorMessage))),
            PlatformException p => (p.StatusCode, p.Message),
            BadHttpRequestException b => (b.StatusCode, b.StatusCode == 413 ? "The request body is too large." : b.Message),
            JsonException j => (400, "The request body is not valid JSON: " + j.Message),
            InvalidOperationException text when UndecodableJsonText.Is(text) => (400, UndecodableJsonText.Detail(text)),
            _ => (500, "An unexpected error occurred."),
        };
        if (status >= 500)
        {
            // The caller learns only that it failed; the log keeps what failed, for whoever runs the server.
            context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger<DataPlane>()
                .LogError(exception, "Inference request {Path} failed unexpectedly", context.Request.Path.Value);
        }

        if (exception is TooManyRequestsException tooMany)
        {
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(tooMany.RetryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        // Written whole first, so the answer carries its Content-Length instead of going chunked like a stream.
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(128 + message.Length);
        using (var writer = new Utf8JsonWriter(buffer, ErrorJson))
        {
            writer.WriteStartObject();
            writer.WriteString("error", message);
            writer.WriteEndObject();
        }

        context.Response.ContentLength = buffer.WrittenCount;
        await context.Response.Body.WriteAsync(buffer.WrittenMemory);
    }
}
