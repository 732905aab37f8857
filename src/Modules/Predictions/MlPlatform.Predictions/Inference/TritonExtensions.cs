using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// Two of Triton's extensions to the protocol, which its clients and perf_analyzer ask for: the model
/// configuration (<c>GET /v2/models/{name}/config</c>: platform, batching, inputs and outputs with
/// Triton's type names) and the statistics (<c>GET /v2/models[/{name}[/versions/{version}]]/stats</c>:
/// this host's counts and times per variant). Field names and units (nanoseconds, milliseconds since
/// the epoch) are Triton's, so its client libraries read the answers as they are.
/// </summary>
internal static class TritonExtensions
{
    public static async Task ConfigAsync(string name, string? version, HttpContext context, ClaimsPrincipal user, DataPlane plane)
    {
        try
        {
            var endpoint = await plane.EndpointAsync(user, name, context.RequestAborted);
            var variant = version is null ? endpoint.Primary : endpoint.Select(version, null);
            JsonBody.Write(context.Response, (endpoint, variant), static (writer, answer) => WriteConfig(writer, answer.endpoint, answer.variant));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await DataPlane.WriteErrorAsync(context, ex);
        }
    }

    /// <summary>Statistics of one endpoint (every served variant, or the one named), or of every endpoint this host serves that the caller may see.</summary>
    public static async Task StatsAsync(string? name, string? version, HttpContext context, ClaimsPrincipal user, DataPlane plane)
    {
        try
        {
            var entries = new List<(EndpointRuntime Endpoint, VariantRuntime Variant)>();
            if (name is null)
            {
                foreach (var endpoint in plane.ServedEndpoints.OrderBy(e => e.Name, StringComparer.Ordinal))
                {
                    if (await plane.MaySeeAsync(user, endpoint, context.RequestAborted))
                    {
                        entries.AddRange(endpoint.Variants.Select(v => (endpoint, v)));
                    }
                }
            }
            else
            {
                var endpoint = await plane.EndpointAsync(user, name, context.RequestAborted);
                entries.AddRange(version is null ? endpoint.Variants.Select(v => (endpoint, v)) : [(endpoint, endpoint.Select(version, null))]);
            }

            JsonBody.Write(context.Response, entries, static (writer, entries) => WriteStats(writer, entries));
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !context.RequestAborted.IsCancellationRequested)
        {
            await DataPlane.WriteErrorAsync(context, ex);
        }
    }

    /// <summary>Triton's type name of a protocol datatype (BYTES is Triton's TYPE_STRING).</summary>
    internal static string TritonType(string datatype) => datatype == "BYTES" ? "TYPE_STRING" : "TYPE_" + datatype;

    internal static void WriteConfig(Utf8JsonWriter writer, EndpointRuntime endpoint, VariantRuntime variant)
    {
        // Triton's max_batch_size > 0 says the model takes a batch dimension first, which the dims leave
        // out and the server's batcher stacks requests along. Reported so only with micro-batching on,
        // where that is what happens here. Otherwise 0: the dims are the whole shape (-1 for any size)
        // and a request's first dimension is its own, as the server sends it to the model unchanged.
        var batcher = variant.Batcher;
        writer.WriteStartObject();
        writer.WriteString("name", endpoint.Name);
        writer.WriteString("platform", "onnxruntime_onnx");
        writer.WriteString("backend", "onnxruntime");
        writer.WriteStartObject("version_policy");
        writer.WriteStartObject("specific");
        writer.WriteStartArray("versions");
        foreach (var v in endpoint.Variants.Select(v => v.Version).Distinct().Order())
        {
            writer.WriteNumberValue(v);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
        writer.WriteEndObject();
        writer.WriteNumber("max_batch_size", batcher?.MaxRows ?? 0);
        WriteTensors(writer, "input", variant.Signature.Inputs, batched: batcher is not null);
        WriteTensors(writer, "output", variant.Signature.Outputs, batched: batcher is not null);
        if (batcher is not null)
        {
            writer.WriteStartObject("dynamic_batching");
            writer.WriteNumber("max_queue_delay_microseconds", (long)batcher.MaxDelay.TotalMicroseconds);
            writer.WriteEndObject();
        }

        writer.WriteStartArray("instance_group");
        writer.WriteStartObject();
        writer.WriteString("name", endpoint.Name);
        writer.WriteString("kind", "KIND_CPU");
        // One session per model version, shared by all requests (ONNX Runtime runs them concurrently).
        writer.WriteNumber("count", 1);
        writer.WriteEndObject();
        writer.WriteEndArray();
        writer.WriteString("default_model_filename", "model.onnx");
        writer.WriteStartObject("response_cache");
        writer.WriteBoolean("enable", endpoint.Cache is not null);
        writer.WriteEndObject();
        writer.WriteStartObject("parameters");
        writer.WriteEndObject();
        writer.WriteEndObject();
    }

    private static void WriteTensors(Utf8JsonWriter writer, string property, IReadOnlyList<TensorSpec> specs, bool batched)
    {
        writer.WriteStartArray(property);
        foreach (var spec in specs)
        {
            writer.WriteStartObject();
            writer.WriteString("name", spec.Name);
            writer.WriteString("data_type", TritonType(spec.Datatype));
            writer.WriteStartArray("dims");
            foreach (var d in batched ? spec.Shape.Skip(1) : spec.Shape)
            {
                writer.WriteNumberValue(d);
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
    }

    internal static void WriteStats(Utf8JsonWriter writer, IReadOnlyList<(EndpointRuntime Endpoint, VariantRuntime Variant)> entries)
    {
        writer.WriteStartObject();
        writer.WriteStartArray("model_stats");
        foreach (var (endpoint, variant) in entries)
        {
            var stats = variant.Stats;
            writer.WriteStartObject();
            writer.WriteString("name", endpoint.Name);
            writer.WriteString("version", variant.VersionText);
            writer.WriteNumber("last_inference", stats.LastInference);
            writer.WriteNumber("inference_count", stats.InferenceCount);
            writer.WriteNumber("execution_count", stats.ExecutionCount);
            writer.WriteStartObject("inference_stats");
            WriteDuration(writer, "success", stats.Success);
            WriteDuration(writer, "fail", stats.Fail);
            WriteDuration(writer, "queue", stats.Queue);
            WriteDuration(writer, "compute_input", stats.ComputeInput);
            WriteDuration(writer, "compute_infer", stats.ComputeInfer);
            WriteDuration(writer, "compute_output", stats.ComputeOutput);
            WriteDuration(writer, "cache_hit", stats.CacheHit);
            WriteDuration(writer, "cache_miss", stats.CacheMiss);
            writer.WriteEndObject();
            writer.WriteStartArray("batch_stats");
            foreach (var (size, batch) in stats.Batches)
            {
                writer.WriteStartObject();
                writer.WriteNumber("batch_size", size);
                WriteDuration(writer, "compute_input", batch.ComputeInput);
                WriteDuration(writer, "compute_infer", batch.ComputeInfer);
                WriteDuration(writer, "compute_output", batch.ComputeOutput);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteDuration(Utf8JsonWriter writer, string property, VariantStats.Duration duration)
    {
        writer.WriteStartObject(property);
        writer.WriteNumber("count", duration.Count);
        writer.WriteNumber("ns", duration.Nanoseconds);
        writer.WriteEndObject();
    }
}
