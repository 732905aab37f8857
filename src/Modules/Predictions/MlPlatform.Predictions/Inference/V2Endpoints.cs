using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using MlPlatform.Gateway.Contracts;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// The Open Inference Protocol (KServe V2) over REST. The model name is the endpoint name; a
/// version in the path picks a variant by name or by model version number.
/// </summary>
public static class V2Endpoints
{
    public static void MapV2Endpoints(this IEndpointRouteBuilder endpoints, PredictionsSettings settings)
    {
        var v2 = endpoints.MapGroup("/v2").WithTags("Inference (V2)");

        // Liveness and readiness of the inference server say nothing about any project: open like /health.
        v2.MapGet(string.Empty, () => TypedResults.Json(new { name = "mlplatform", version = ServerVersion, extensions = Extensions }))
            .AllowAnonymous().WithSummary("Server metadata: name, version and protocol extensions (binary tensor data)");
        v2.MapGet("/health/live", () => TypedResults.Json(new { live = true })).AllowAnonymous().WithSummary("The server is live");
        // The protocol's boolean by status: 200 ready, 4xx not ready (host stopping, or the serving tables cannot be read).
        v2.MapGet("/health/ready", (IHostApplicationLifetime lifetime, EndpointChangeFollower follower) =>
                !lifetime.ApplicationStopping.IsCancellationRequested && follower.DatabaseReachable
                    ? TypedResults.Json(new { ready = true })
                    : TypedResults.Json(new { ready = false }, statusCode: StatusCodes.Status400BadRequest))
            .AllowAnonymous().WithSummary("The server is ready for inference: 200, or 400 while it stops or cannot read its endpoints");

        // Triton's statistics of every model (here: every endpoint this host serves that the caller may see).
        v2.MapGet("/models/stats", (HttpContext context, ClaimsPrincipal user, DataPlane plane) => TritonExtensions.StatsAsync(null, null, context, user, plane))
            .RequireAuthorization(PlatformPolicies.Authenticated).WithMetadata(new NotAuditedAttribute())
            .WithSummary("Statistics of every endpoint this host serves that the caller may see (Triton's statistics extension)");
        var models = v2.MapGroup("/models/{name}")
            .RequireAuthorization(PlatformPolicies.Authenticated)
            // Inference changes nothing: no audit row per call (the data plane's cost is measured in microseconds).
            .WithMetadata(new NotAuditedAttribute())
            .WithRequestBodyLimit(settings.MaxRequestBytes);
        models.MapGet("/", (string name, HttpContext context, ClaimsPrincipal user, DataPlane plane) => MetadataAsync(name, null, context, user, plane))
            .WithSummary("Model metadata: versions, platform, inputs and outputs");
        models.MapGet("/versions/{version}", (string name, string version, HttpContext context, ClaimsPrincipal user, DataPlane plane) => MetadataAsync(name, version, context, user, plane))
            .WithSummary("Metadata of one version (a variant name or a model version number)");
        models.MapGet("/ready", (string name, HttpContext context, ClaimsPrincipal user, DataPlane plane) => ReadyAsync(name, null, context, user, plane))
            .WithSummary("200 when the model is loaded and ready");
        models.MapGet("/versions/{version}/ready", (string name, string version, HttpContext context, ClaimsPrincipal user, DataPlane plane) => ReadyAsync(name, version, context, user, plane))
            .WithSummary("200 when that version is loaded and ready");
        models.MapGet("/config", (string name, HttpContext context, ClaimsPrincipal user, DataPlane plane) => TritonExtensions.ConfigAsync(name, null, context, user, plane))
            .WithSummary("Model configuration in Triton's form: platform, max_batch_size, inputs and outputs with Triton type names, dynamic batching");
        models.MapGet("/versions/{version}/config", (string name, string version, HttpContext context, ClaimsPrincipal user, DataPlane plane) => TritonExtensions.ConfigAsync(name, version, context, user, plane))
            .WithSummary("Model configuration of one version (a variant name or a model version number)");
        models.MapGet("/stats", (string name, HttpContext context, ClaimsPrincipal user, DataPlane plane) => TritonExtensions.StatsAsync(name, null, context, user, plane))
            .WithSummary("This host's statistics per variant in Triton's form: successes, failures, queue and compute times in ns, cache hits, runs by batch size");
        models.MapGet("/versions/{version}/stats", (string name, string version, HttpContext context, ClaimsPrincipal user, DataPlane plane) => TritonExtensions.StatsAsync(name, version, context, user, plane))
            .WithSummary("Statistics of one version (a variant name or a model version number)");
        models.MapPost("/infer", (string name, HttpContext context, ClaimsPrincipal user, DataPlane plane) => InferAsync(name, null, context, user, plane))
            .WithSummary("Inference with JSON tensors, or binary ones after the JSON (Inference-Header-Content-Length); headers X-Request-Key (sticky) and X-Variant (explicit); answer headers name the model version and variant");
        models.MapPost("/versions/{version}/infer", (string name, string version, HttpContext context, ClaimsPrincipal user, DataPlane plane) => InferAsync(name, version, context, user, plane))
            .WithSummary("Inference on one version (a variant name or a model version number)");
    }

    /// <summary>The protocol's binary extension and Triton's two that are served (/config and /stats), by Triton's names.</summary>
    private static readonly string[] Extensions = [V2Binary.Extension, "model_configuration", "statistics"];

    private static readonly string ServerVersion =
        typeof(V2Endpoints).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
            .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion.Split('+')[0] ?? "1.0.0";

    private static async Task MetadataAsync(string name, string? version, HttpContext context, ClaimsPrincipal user, DataPlane plane)
    {
        try
        {
            var endpoint = await plane.EndpointAsync(user, name, context.RequestAborted);
            var variant = version is null ? endpoint.Primary : endpoint.Select(version, null);
            context.Response.ContentType = "application/json";
            await using var writer = new Utf8JsonWriter(context.Response.BodyWriter);
            writer.WriteStartObject();
            writer.WriteString("name", endpoint.Name);
            writer.WriteStartArray("versions");
            foreach (var v in endpoint.Variants.Select(v => v.VersionText).Distinct())
            {
                writer.WriteStringValue(v);
            }

            writer.WriteEndArray();
            writer.WriteString("platform", "onnxruntime_onnx");
            WriteSpecs(writer, "inputs", variant.Signature.Inputs);
            WriteSpecs(writer, "outputs", variant.Signature.Outputs);
            writer.WriteEndObject();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await DataPlane.WriteErrorAsync(context, ex);
        }
    }

    private static void WriteSpecs(Utf8JsonWriter writer, string property, IReadOnlyList<TensorSpec> specs)
    {
        writer.WriteStartArray(property);
        foreach (var spec in specs)
        {
            writer.WriteStartObject();
            writer.WriteString("name", spec.Name);
            writer.WriteString("datatype", spec.Datatype);
            writer.WriteStartArray("shape");
            foreach (var d in spec.Shape)
            {
                writer.WriteNumberValue(d);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    private static async Task ReadyAsync(string name, string? version, HttpContext context, ClaimsPrincipal user, DataPlane plane)
    {
        try
        {
            var endpoint = await plane.EndpointAsync(user, name, context.RequestAborted);
            // Without a version the endpoint is ready when every variant with traffic is (a loaded model each);
            // one at weight 0 is not loaded again by a probe after being unloaded for idleness.
            foreach (var variant in version is null ? endpoint.Variants.Where(v => v.Weight > 0) : [endpoint.Select(version, null)])
            {
                var model = await variant.AcquireAsync(context.RequestAborted);
                model.Release();
            }

            await context.Response.WriteAsJsonAsync(new { name = endpoint.Name, ready = true });
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await DataPlane.WriteErrorAsync(context, ex);
        }
    }

    private static async Task InferAsync(string name, string? version, HttpContext context, ClaimsPrincipal user, DataPlane plane)
    {
        try
        {
            var endpoint = await plane.EndpointAsync(user, name, context.RequestAborted);
            var headers = context.Request.Headers;
            var binaryHeader = headers.TryGetValue(V2Binary.HeaderName, out var h) ? h.ToString() : null;
            var body = await V2Codec.ReadBodyAsync(context.Request, plane.Settings.MaxRequestBytes, context.RequestAborted, binaryFollows: binaryHeader is not null);
            var request = V2Codec.ParseInfer(body, V2Binary.JsonLength(binaryHeader, body.Length), plane.Settings.MaxRequestBytes);
            var explicitVariant = version ?? request.Variant ?? (headers.TryGetValue(PredictionHeaders.SelectVariant, out var v) ? v.ToString() : null);
            var key = request.RequestKey ?? (headers.TryGetValue(PredictionHeaders.RequestKey, out var k) ? k.ToString() : null);
            var variant = endpoint.Select(explicitVariant, key);
            var result = await plane.InferAsync(endpoint, variant, request.Inputs, request.Outputs, request.UseCache, context.RequestAborted);
            DataPlane.WriteHeaders(context.Response, result);
            if (request.BinaryFor(result.Outputs) is { } binary)
            {
                JsonBody.Write(
                    context.Response,
                    (endpoint.Name, variant.VersionText, request.Id, result.Outputs, binary),
                    static (writer, answer) => V2Codec.WriteInferResponse(writer, answer.Name, answer.VersionText, answer.Id, answer.Outputs, answer.binary),
                    static (buffer, answer) => V2Codec.WriteBinaryOutputs(buffer, answer.Outputs, answer.binary),
                    V2Binary.HeaderName);
                return;
            }

            JsonBody.Write(context.Response, (endpoint.Name, variant.VersionText, request.Id, result.Outputs), static (writer, answer) =>
                V2Codec.WriteInferResponse(writer, answer.Name, answer.VersionText, answer.Id, answer.Outputs));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await DataPlane.WriteErrorAsync(context, ex);
        }
    }
}
