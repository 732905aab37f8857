using System.Buffers;
using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Inference;

/// <summary>A parsed V2 inference request.</summary>
/// <remarks>Request parameters other than ours are accepted and ignored, as the protocol allows.</remarks>
public sealed record V2Request(string? Id, IReadOnlyList<TensorData> Inputs, IReadOnlyList<string>? Outputs, string? Variant, string? RequestKey, bool UseCache);

/// <summary>
/// The Open Inference Protocol's JSON: requests with tensors (data flat or nested, row-major) and
/// answers. Every malformed part is a 400 naming it.
/// </summary>
public static class V2Codec
{
    public static async Task<byte[]> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength is { } length && length > maxBytes)
        {
            throw new PayloadTooLargeException(maxBytes);
        }

        if (request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) && !type.StartsWith("text/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new UnsupportedMediaTypeException($"Send JSON (application/json); got '{type}'.");
        }

        var reader = request.BodyReader;
        if (request.ContentLength is { } known and > 0)
        {
            return await ReadExactAsync(reader, (int)known, maxBytes, cancellationToken);
        }

        var buffer = new ArrayBufferWriter<byte>(4096);
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer)
            {
                if (buffer.WrittenCount + segment.Length > maxBytes)
                {
                    throw new PayloadTooLargeException(maxBytes);
                }

                buffer.Write(segment.Span);
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A body of announced length, copied once from the pipe into an array of that size (the common case on the hot path).</summary>
    private static async Task<byte[]> ReadExactAsync(System.IO.Pipelines.PipeReader reader, int length, long maxBytes, CancellationToken cancellationToken)
    {
        var body = new byte[length];
        var filled = 0;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer)
            {
                if (filled + segment.Length > length)
                {
                    // More than announced: the server normally refuses this first; never write past the array.
                    throw filled + segment.Length > maxBytes ? new PayloadTooLargeException(maxBytes) : new BadRequestException("The request body is longer than its Content-Length.");
                }

                segment.Span.CopyTo(body.AsSpan(filled));
                filled += segment.Length;
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        return filled == length ? body : throw new BadRequestException("The request body is shorter than its Content-Length.");
    }

    public static JsonDocument ParseDocument(byte[] body)
    {
        if (body.Length == 0)
        {
            throw new BadRequestException("The request body is empty; send a JSON object.");
        }

        try
        {
            return JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException ex)
        {
            throw new BadRequestException("The request body is not valid JSON: " + ex.Message);
        }
    }

    public static V2Request ParseInfer(byte[] body, long maxElements)
    {
        // The common request in one pass straight into its arrays; anything else, errors included, the general way below.
        if (V2FastReader.TryRead(body, maxElements, out var common))
        {
            return common!;
        }

        return ParseInferGeneral(body, maxElements);
    }

    /// <summary>Any V2 request: data flat or nested, parameters, every datatype; every malformed part a 400 naming it.</summary>
    internal static V2Request ParseInferGeneral(byte[] body, long maxElements)
    {
        using var document = ParseDocument(body);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new BadRequestException("The request must be a JSON object with 'inputs'.");
        }

        string? id = null;
        if (root.TryGetProperty("id", out var idElement))
        {
            id = idElement.ValueKind == JsonValueKind.String ? idElement.GetString() : throw new BadRequestException("'id' must be a string.");
        }

        string? variant = null;
        string? requestKey = null;
        var useCache = true;
        if (root.TryGetProperty("parameters", out var p))
        {
            if (p.ValueKind != JsonValueKind.Object)
            {
                throw new BadRequestException("'parameters' must be an object.");
            }

            // Our extensions, also available as headers: the variant to use, the sticky key, cache bypass.
            variant = StringParameter(p, "variant");
            requestKey = StringParameter(p, "request_key");
            if (p.TryGetProperty("cache", out var cache))
            {
                useCache = cache.ValueKind switch
                {
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    _ => throw new BadRequestException("parameters.cache must be true or false."),
                };
            }

            if (p.TryGetProperty("binary_data_output", out var binary) && binary.ValueKind == JsonValueKind.True)
            {
                throw new BadRequestException("Binary tensor data is not supported; ask for JSON outputs.");
            }
        }

        if (!root.TryGetProperty("inputs", out var inputsElement) || inputsElement.ValueKind != JsonValueKind.Array || inputsElement.GetArrayLength() == 0)
        {
            throw new BadRequestException("'inputs' must be a non-empty array of tensors.");
        }

        var inputs = new List<TensorData>();
        var index = 0;
        foreach (var input in inputsElement.EnumerateArray())
        {
            inputs.Add(ParseTensor(input, index++, maxElements));
        }

        List<string>? outputs = null;
        if (root.TryGetProperty("outputs", out var outputsElement))
        {
            if (outputsElement.ValueKind != JsonValueKind.Array)
            {
                throw new BadRequestException("'outputs' must be an array of {\"name\": ...}.");
            }

            outputs = [];
            foreach (var output in outputsElement.EnumerateArray())
            {
                if (output.ValueKind != JsonValueKind.Object || !output.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String)
                {
                    throw new BadRequestException("Each requested output needs a 'name'.");
                }

                if (output.TryGetProperty("parameters", out var op) && op.ValueKind == JsonValueKind.Object
                    && op.TryGetProperty("binary_data", out var bd) && bd.ValueKind == JsonValueKind.True)
                {
                    throw new BadRequestException("Binary tensor data is not supported; ask for JSON outputs.");
                }

                outputs.Add(name.GetString()!);
            }

            if (outputs.Count != outputs.Distinct(StringComparer.Ordinal).Count())
            {
                throw new BadRequestException("An output is requested twice.");
            }
        }

        return new V2Request(id, inputs, outputs, variant, requestKey, useCache);
    }

    private static string? StringParameter(JsonElement parameters, string name) =>
        parameters.TryGetProperty(name, out var value)
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : throw new BadRequestException($"parameters.{name} must be a string.")
            : null;

    private static TensorData ParseTensor(JsonElement input, int index, long maxElements)
    {
        if (input.ValueKind != JsonValueKind.Object)
        {
            throw new BadRequestException($"inputs[{index}] must be an object with name, shape, datatype and data.");
        }

        if (!input.TryGetProperty("name", out var nameElement) || nameElement.ValueKind != JsonValueKind.String || nameElement.GetString() is not { Length: > 0 } name)
        {
            throw new BadRequestException($"inputs[{index}].name is required.");
        }

        if (!input.TryGetProperty("datatype", out var dt) || dt.ValueKind != JsonValueKind.String)
        {
            throw new BadRequestException($"input '{name}': 'datatype' is required ({Datatypes.Names}).");
        }

        var datatype = dt.GetString()!;
        if (!Datatypes.Supported(datatype))
        {
            throw new BadRequestException($"input '{name}': datatype '{datatype}' is not a tensor datatype of the protocol; use {Datatypes.Names}.");
        }

        if (!input.TryGetProperty("shape", out var shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
        {
            throw new BadRequestException($"input '{name}': 'shape' is required, an array of dimensions.");
        }

        var shape = new long[shapeElement.GetArrayLength()];
        var i = 0;
        foreach (var d in shapeElement.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
            {
                throw new BadRequestException($"input '{name}': every dimension of 'shape' must be a whole number ≥ 0.");
            }

            shape[i++] = dim;
        }

        long count;
        try
        {
            count = TensorBinding.ElementCount(shape);
        }
        catch (OverflowException)
        {
            throw new BadRequestException($"input '{name}': the shape is too large.");
        }

        if (count > maxElements)
        {
            throw new BadRequestException($"input '{name}': shape [{string.Join(",", shape)}] holds {count} elements, more than the body can carry.");
        }

        if (input.TryGetProperty("parameters", out var tp) && tp.ValueKind == JsonValueKind.Object && tp.TryGetProperty("binary_data_size", out _))
        {
            throw new BadRequestException($"input '{name}': binary tensor data (binary_data_size) is not supported; send the values in 'data' as JSON.");
        }

        if (!input.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            throw new BadRequestException($"input '{name}': 'data' is required, an array (flat or nested, row-major).");
        }

        var values = Datatypes.Allocate(datatype, (int)count);
        var n = 0;
        Fill(data, values, ref n, datatype, name);
        if (n != count)
        {
            throw new BadRequestException($"input '{name}' has {n} elements; its shape [{string.Join(",", shape)}] needs {count}.");
        }

        return new TensorData(name, datatype, shape, values);
    }

    private static void Fill(JsonElement array, Array values, ref int n, string datatype, string name)
    {
        foreach (var element in array.EnumerateArray())
        {
            if (element.ValueKind == JsonValueKind.Array)
            {
                Fill(element, values, ref n, datatype, name);
                continue;
            }

            if (n >= values.Length)
            {
                n++;
                continue; // Counted, so the error names the real number of elements.
            }

            switch (values)
            {
                case float[] f:
                    f[n] = (float)Number(element, name, n);
                    break;
                case double[] d:
                    d[n] = Number(element, name, n);
                    break;
                case bool[] b:
                    // true/false, and 0/1 as numpy-based clients write booleans.
                    b[n] = element.ValueKind switch
                    {
                        JsonValueKind.True => true,
                        JsonValueKind.False => false,
                        JsonValueKind.Number when element.TryGetInt32(out var bit) && bit is 0 or 1 => bit == 1,
                        _ => throw NotA("boolean", name, n, element),
                    };
                    break;
                case string[] s:
                    s[n] = element.ValueKind == JsonValueKind.String ? element.GetString()! : throw NotA("string", name, n, element);
                    break;
                case Float16[] or BFloat16[] when element.ValueKind == JsonValueKind.String:
                    // "NaN"/"Infinity" as for FP32 (then refused or not by the NaN/Inf policy).
                    var special = (float)Number(element, name, n);
                    if (values is Float16[] h)
                    {
                        h[n] = (Float16)special;
                    }
                    else
                    {
                        ((BFloat16[])values)[n] = (BFloat16)special;
                    }

                    break;
                default:
                    if (!TensorValues.TrySet(values, n, element))
                    {
                        throw NotA(TensorValues.Kind(values), name, n, element);
                    }

                    break;
            }

            n++;
        }
    }

    /// <summary>Numbers, and the strings "NaN", "Infinity" and "-Infinity" that some clients send (then refused or not by the NaN/Inf policy).</summary>
    private static double Number(JsonElement element, string name, int n)
    {
        if (element.ValueKind == JsonValueKind.Number)
        {
            return element.GetDouble();
        }

        if (element.ValueKind == JsonValueKind.String)
        {
            switch (element.GetString())
            {
                case "NaN":
                    return double.NaN;
                case "Infinity" or "inf":
                    return double.PositiveInfinity;
                case "-Infinity" or "-inf":
                    return double.NegativeInfinity;
            }
        }

        throw NotA("number", name, n, element);
    }

    private static BadRequestException NotA(string what, string name, int n, JsonElement element)
    {
        var text = element.GetRawText();
        return new BadRequestException($"input '{name}': element {n} is {(text.Length > 40 ? text[..40] + "…" : text)}, not a {what}.");
    }

    public static void WriteInferResponse(Utf8JsonWriter writer, string modelName, string modelVersion, string? id, IReadOnlyList<TensorData> outputs)
    {
        writer.WriteStartObject();
        writer.WriteString("model_name", modelName);
        writer.WriteString("model_version", modelVersion);
        if (id is not null)
        {
            writer.WriteString("id", id);
        }

        writer.WriteStartArray("outputs");
        foreach (var output in outputs)
        {
            writer.WriteStartObject();
            writer.WriteString("name", output.Name);
            writer.WriteString("datatype", output.Datatype);
            writer.WriteStartArray("shape");
            foreach (var d in output.Shape)
            {
                writer.WriteNumberValue(d);
            }

            writer.WriteEndArray();
            writer.WritePropertyName("data");
            TensorBinding.WriteData(writer, output.Data);
            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    public static string VersionText(int version) => version.ToString(CultureInfo.InvariantCulture);
}
