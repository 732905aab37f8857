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
public sealed record V2Request(string? Id, IReadOnlyList<TensorData> Inputs, IReadOnlyList<string>? Outputs, string? Variant, string? RequestKey, bool UseCache)
{
    /// <summary>The binary tensor data extension: every output answered as binary unless it says otherwise (<c>parameters.binary_data_output</c>).</summary>
    public bool BinaryOutputs { get; init; }

    /// <summary>Outputs that said how they want to be answered (their <c>parameters.binary_data</c>), over the default.</summary>
    public IReadOnlyDictionary<string, bool>? OutputBinary { get; init; }

    /// <summary>Which of the answer's outputs go as binary; null when none does (a plain JSON answer).</summary>
    public bool[]? BinaryFor(IReadOnlyList<TensorData> outputs)
    {
        if (!BinaryOutputs && OutputBinary is null)
        {
            return null;
        }

        var binary = new bool[outputs.Count];
        var any = false;
        for (var i = 0; i < binary.Length; i++)
        {
            binary[i] = OutputBinary is not null && OutputBinary.TryGetValue(outputs[i].Name, out var asked) ? asked : BinaryOutputs;
            any |= binary[i];
        }

        return any ? binary : null;
    }
}

/// <summary>
/// The Open Inference Protocol's JSON: requests with tensors (data flat or nested, row-major, or
/// binary after the JSON: <see cref="V2Binary"/>) and answers. Every malformed part is a 400 naming it.
/// </summary>
public static class V2Codec
{
    /// <param name="binaryFollows">
    /// The request carries the binary extension's header, which says what the body holds: its
    /// content type is then not checked (clients send none, octet-stream, or their library's default).
    /// </param>
    public static async Task<byte[]> ReadBodyAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken, bool binaryFollows = false)
    {
        if (request.ContentLength is { } length && length > maxBytes)
        {
            throw new PayloadTooLargeException(maxBytes);
        }

        if (!binaryFollows && request.ContentType is { } type && !type.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) && !type.StartsWith("text/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new UnsupportedMediaTypeException($"Send JSON (application/json); got '{type}'.");
        }

        var encoding = request.Headers.ContentEncoding;
        var body = await ReadRawAsync(request, maxBytes, cancellationToken);
        return encoding.Count == 0 ? body : Decode(body, encoding.ToString(), maxBytes);
    }

    /// <summary>
    /// A body sent compressed (<c>Content-Encoding</c>: gzip, deflate or br, as tritonclient's
    /// request compression sends it), expanded to at most <paramref name="maxBytes"/>: a body that
    /// expands past the limit is a 413 however small it was on the wire.
    /// </summary>
    internal static byte[] Decode(byte[] body, string contentEncoding, long maxBytes)
    {
        var name = contentEncoding.Trim();
        if (name.Length == 0 || name.Equals("identity", StringComparison.OrdinalIgnoreCase))
        {
            return body;
        }

        using var source = new MemoryStream(body, writable: false);
        using Stream decompressor = name.ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => new System.IO.Compression.GZipStream(source, System.IO.Compression.CompressionMode.Decompress),
            // HTTP's "deflate" is the zlib format (RFC 9110), which is what clients send under that name.
            "deflate" => new System.IO.Compression.ZLibStream(source, System.IO.Compression.CompressionMode.Decompress),
            "br" => new System.IO.Compression.BrotliStream(source, System.IO.Compression.CompressionMode.Decompress),
            _ => throw new UnsupportedMediaTypeException($"Content-Encoding '{name}' is not supported; send the body as it is, or as gzip, deflate or br."),
        };
        var expanded = new ArrayBufferWriter<byte>((int)Math.Min(maxBytes, Math.Max(4096L, body.Length * 4L)));
        try
        {
            while (true)
            {
                var span = expanded.GetSpan(16 * 1024);
                var read = decompressor.Read(span);
                if (read == 0)
                {
                    break;
                }

                if (expanded.WrittenCount + read > maxBytes)
                {
                    throw new PayloadTooLargeException(maxBytes);
                }

                expanded.Advance(read);
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or InvalidOperationException)
        {
            // GZip and zlib report corrupt data as InvalidDataException, Brotli as InvalidOperationException.
            throw new BadRequestException($"The request body is not valid {name} data: {ex.Message}");
        }

        return expanded.WrittenSpan.ToArray();
    }

    private static async Task<byte[]> ReadRawAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
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

    public static JsonDocument ParseDocument(ReadOnlyMemory<byte> body)
    {
        if (body.Length == 0)
        {
            throw new BadRequestException("The request body is empty; send a JSON object.");
        }

        // JSON text is UTF-8 (RFC 8259); the parser checks the structure but leaves string contents
        // to be decoded later, where a bad byte would surface as an unexpected error instead of a 400.
        if (!System.Text.Unicode.Utf8.IsValid(body.Span))
        {
            throw new BadRequestException("The request body is not valid UTF-8, which JSON text must be.");
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

    public static V2Request ParseInfer(byte[] body, long maxElements) => ParseInfer(body, null, maxElements);

    /// <param name="jsonLength">The JSON part's length when binary tensor data follows it (<see cref="V2Binary.JsonLength"/>).</param>
    public static V2Request ParseInfer(byte[] body, int? jsonLength, long maxElements)
    {
        if (jsonLength is { } json)
        {
            return ParseInferGeneral(body.AsMemory(0, json), body.AsMemory(json), maxElements);
        }

        // The common request in one pass straight into its arrays; anything else, errors included, the general way below.
        if (V2FastReader.TryRead(body, maxElements, out var common))
        {
            return common!;
        }

        return ParseInferGeneral(body, ReadOnlyMemory<byte>.Empty, maxElements);
    }

    internal static V2Request ParseInferGeneral(byte[] body, long maxElements) => ParseInferGeneral(body, ReadOnlyMemory<byte>.Empty, maxElements);

    /// <summary>
    /// Any V2 request: data flat or nested or binary, parameters, every datatype; every malformed
    /// part a 400 naming it. <paramref name="binary"/> is what follows the JSON (empty without the extension).
    /// </summary>
    internal static V2Request ParseInferGeneral(ReadOnlyMemory<byte> json, ReadOnlyMemory<byte> binary, long maxElements)
    {
        using var document = ParseDocument(json);
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
        var binaryOutputs = false;
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

            if (p.TryGetProperty("binary_data_output", out var binaryOutput))
            {
                binaryOutputs = Flag(binaryOutput, "parameters.binary_data_output");
            }
        }

        if (!root.TryGetProperty("inputs", out var inputsElement) || inputsElement.ValueKind != JsonValueKind.Array || inputsElement.GetArrayLength() == 0)
        {
            throw new BadRequestException("'inputs' must be a non-empty array of tensors.");
        }

        var inputs = new List<TensorData>();
        var index = 0;
        var binaryRead = 0;
        foreach (var input in inputsElement.EnumerateArray())
        {
            inputs.Add(ParseTensor(input, index++, maxElements, binary.Span, ref binaryRead));
        }

        if (binaryRead != binary.Length)
        {
            throw new BadRequestException($"The body has {binary.Length - binaryRead} bytes after the JSON and the inputs' binary data ({binaryRead} bytes by their binary_data_size).");
        }

        List<string>? outputs = null;
        Dictionary<string, bool>? outputBinary = null;
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
                    && op.TryGetProperty("binary_data", out var bd))
                {
                    (outputBinary ??= new(StringComparer.Ordinal))[name.GetString()!] = Flag(bd, $"outputs[{outputs.Count}].parameters.binary_data");
                }

                outputs.Add(name.GetString()!);
            }

            if (outputs.Count != outputs.Distinct(StringComparer.Ordinal).Count())
            {
                throw new BadRequestException("An output is requested twice.");
            }
        }

        return new V2Request(id, inputs, outputs, variant, requestKey, useCache) { BinaryOutputs = binaryOutputs, OutputBinary = outputBinary };
    }

    private static bool Flag(JsonElement value, string name) => value.ValueKind switch
    {
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => throw new BadRequestException($"{name} must be true or false."),
    };

    private static string? StringParameter(JsonElement parameters, string name) =>
        parameters.TryGetProperty(name, out var value)
            ? value.ValueKind == JsonValueKind.String ? value.GetString() : throw new BadRequestException($"parameters.{name} must be a string.")
            : null;

    private static TensorData ParseTensor(JsonElement input, int index, long maxElements, ReadOnlySpan<byte> binary, ref int binaryRead)
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

        if (input.TryGetProperty("parameters", out var tp) && tp.ValueKind == JsonValueKind.Object && tp.TryGetProperty("binary_data_size", out var sizeElement))
        {
            if (input.TryGetProperty("data", out _))
            {
                throw new BadRequestException($"input '{name}': send its values either in 'data' or as binary (binary_data_size), not both.");
            }

            if (sizeElement.ValueKind != JsonValueKind.Number || !sizeElement.TryGetInt64(out var size) || size < 0)
            {
                throw new BadRequestException($"input '{name}': binary_data_size must be a whole number of bytes ≥ 0.");
            }

            if (size > binary.Length - binaryRead)
            {
                throw new BadRequestException(binary.IsEmpty
                    ? $"input '{name}' has binary_data_size {size} but no binary data follows the JSON: send the JSON's length in the {V2Binary.HeaderName} header and the tensor bytes after it."
                    : $"input '{name}': binary_data_size is {size} bytes, but only {binary.Length - binaryRead} bytes of binary data are left in the body.");
            }

            var section = binary.Slice(binaryRead, (int)size);
            binaryRead += (int)size;
            return V2Binary.ReadTensor(name, datatype, shape, (int)count, section);
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

    /// <param name="binary">Per output, whether its data follows the JSON as binary (written by <see cref="WriteBinaryOutputs"/>); null for none.</param>
    public static void WriteInferResponse(Utf8JsonWriter writer, string modelName, string modelVersion, string? id, IReadOnlyList<TensorData> outputs, bool[]? binary = null)
    {
        writer.WriteStartObject();
        writer.WriteString("model_name", modelName);
        writer.WriteString("model_version", modelVersion);
        if (id is not null)
        {
            writer.WriteString("id", id);
        }

        writer.WriteStartArray("outputs");
        for (var o = 0; o < outputs.Count; o++)
        {
            var output = outputs[o];
            writer.WriteStartObject();
            writer.WriteString("name", output.Name);
            writer.WriteString("datatype", output.Datatype);
            writer.WriteStartArray("shape");
            foreach (var d in output.Shape)
            {
                writer.WriteNumberValue(d);
            }

            writer.WriteEndArray();
            if (binary is not null && binary[o])
            {
                writer.WriteStartObject("parameters");
                writer.WriteNumber("binary_data_size", V2Binary.Size(output));
                writer.WriteEndObject();
            }
            else
            {
                writer.WritePropertyName("data");
                TensorBinding.WriteData(writer, output.Data);
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    /// <summary>The binary sections of the outputs marked binary, in their order, after the answer's JSON.</summary>
    public static void WriteBinaryOutputs(IBufferWriter<byte> buffer, IReadOnlyList<TensorData> outputs, bool[] binary)
    {
        for (var o = 0; o < outputs.Count; o++)
        {
            if (binary[o])
            {
                V2Binary.Write(buffer, outputs[o]);
            }
        }
    }

    public static string VersionText(int version) => version.ToString(CultureInfo.InvariantCulture);
}
