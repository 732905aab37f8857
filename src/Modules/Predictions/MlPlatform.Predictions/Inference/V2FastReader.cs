using System.Text.Json;
using MlPlatform.Predictions.Runtime;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// The common shape of a V2 request read in one forward pass, straight into the tensors' arrays,
/// without building a JSON document first: inputs with name, datatype and shape before a flat
/// numeric <c>data</c> array (FP32, FP64, INT32, INT64), an optional string <c>id</c>, and outputs
/// asked for by name. Anything else — nested or non-numeric data, request or tensor parameters,
/// data before its shape, a repeated property, a wrong count, malformed JSON — is declined, and
/// <see cref="V2Codec.ParseInfer"/> parses the body its general way, which also writes every error:
/// this reader never decides a request is invalid, so errors read as they always did.
/// </summary>
internal static class V2FastReader
{
    private static readonly JsonReaderOptions Options = new() { MaxDepth = 64 };

    public static bool TryRead(ReadOnlySpan<byte> body, long maxElements, out V2Request? request)
    {
        request = null;
        try
        {
            var reader = new Utf8JsonReader(body, Options);
            return TryReadRoot(ref reader, maxElements, out request);
        }
        catch (JsonException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            // A token read as what it is not (the reader's own guard): declined, the general path reports it.
            return false;
        }
    }

    private static bool TryReadRoot(ref Utf8JsonReader reader, long maxElements, out V2Request? request)
    {
        request = null;
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
        {
            return false;
        }

        string? id = null;
        List<TensorData>? inputs = null;
        List<string>? outputs = null;
        var seenId = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("inputs"u8))
            {
                if (inputs is not null || !reader.Read() || !TryReadInputs(ref reader, maxElements, out inputs))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("id"u8))
            {
                if (seenId || !reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    return false;
                }

                seenId = true;
                id = reader.GetString();
            }
            else if (reader.ValueTextEquals("outputs"u8))
            {
                if (outputs is not null || !reader.Read() || !TryReadOutputs(ref reader, out outputs))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                return false; // Our extensions live there (variant, request key, cache): the general path reads them.
            }
            else
            {
                // Other properties are ignored, as the general path ignores them.
                if (!reader.Read())
                {
                    return false;
                }

                reader.Skip();
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || reader.Read() || inputs is null)
        {
            return false; // Not one complete object (or trailing content), or no inputs.
        }

        request = new V2Request(id, inputs, outputs, null, null, true);
        return true;
    }

    private static bool TryReadInputs(ref Utf8JsonReader reader, long maxElements, out List<TensorData>? inputs)
    {
        inputs = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        var list = new List<TensorData>(1);
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            if (!TryReadTensor(ref reader, maxElements, out var tensor))
            {
                return false;
            }

            list.Add(tensor!);
        }

        if (reader.TokenType != JsonTokenType.EndArray || list.Count == 0)
        {
            return false;
        }

        inputs = list;
        return true;
    }

    private static bool TryReadTensor(ref Utf8JsonReader reader, long maxElements, out TensorData? tensor)
    {
        tensor = null;
        string? name = null;
        string? datatype = null;
        long[]? shape = null;
        Array? data = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("name"u8))
            {
                if (name is not null || !reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    return false;
                }

                name = reader.GetString();
                if (string.IsNullOrEmpty(name))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("datatype"u8))
            {
                if (datatype is not null || !reader.Read() || reader.TokenType != JsonTokenType.String)
                {
                    return false;
                }

                datatype = reader.ValueTextEquals("FP32"u8) ? Datatypes.Fp32
                    : reader.ValueTextEquals("FP64"u8) ? Datatypes.Fp64
                    : reader.ValueTextEquals("INT64"u8) ? Datatypes.Int64
                    : reader.ValueTextEquals("INT32"u8) ? Datatypes.Int32
                    : null;
                if (datatype is null)
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("shape"u8))
            {
                if (shape is not null || !reader.Read() || !TryReadShape(ref reader, out shape))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("data"u8))
            {
                // The array is sized from the shape: data before its shape or datatype goes the general way.
                if (data is not null || name is null || datatype is null || shape is null || !reader.Read()
                    || !TryReadData(ref reader, datatype, shape, maxElements, out data))
                {
                    return false;
                }
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                return false; // binary_data_size and friends: the general path refuses them with its own words.
            }
            else
            {
                if (!reader.Read())
                {
                    return false;
                }

                reader.Skip();
            }
        }

        if (reader.TokenType != JsonTokenType.EndObject || name is null || datatype is null || shape is null || data is null)
        {
            return false;
        }

        tensor = new TensorData(name, datatype, shape, data);
        return true;
    }

    private static bool TryReadShape(ref Utf8JsonReader reader, out long[]? shape)
    {
        shape = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        Span<long> dims = stackalloc long[8];
        var rank = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.Number)
        {
            if (rank == dims.Length || !reader.TryGetInt64(out var d) || d < 0)
            {
                return false;
            }

            dims[rank++] = d;
        }

        if (reader.TokenType != JsonTokenType.EndArray)
        {
            return false;
        }

        shape = dims[..rank].ToArray();
        return true;
    }

    private static bool TryReadData(ref Utf8JsonReader reader, string datatype, long[] shape, long maxElements, out Array? data)
    {
        data = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        long count;
        try
        {
            count = TensorBinding.ElementCount(shape);
        }
        catch (OverflowException)
        {
            return false;
        }

        if (count > maxElements || count > int.MaxValue)
        {
            return false;
        }

        var n = 0;
        switch (datatype)
        {
            case Datatypes.Fp32:
            {
                var values = new float[count];
                while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                {
                    // As the general path: the number as a double, then narrowed.
                    if (n == values.Length || !reader.TryGetDouble(out var x))
                    {
                        return false;
                    }

                    values[n++] = (float)x;
                }

                data = values;
                break;
            }

            case Datatypes.Fp64:
            {
                var values = new double[count];
                while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                {
                    if (n == values.Length || !reader.TryGetDouble(out var x))
                    {
                        return false;
                    }

                    values[n++] = x;
                }

                data = values;
                break;
            }

            case Datatypes.Int32:
            {
                var values = new int[count];
                while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                {
                    if (n == values.Length || !reader.TryGetInt32(out var x))
                    {
                        return false;
                    }

                    values[n++] = x;
                }

                data = values;
                break;
            }

            default:
            {
                var values = new long[count];
                while (reader.Read() && reader.TokenType == JsonTokenType.Number)
                {
                    if (n == values.Length || !reader.TryGetInt64(out var x))
                    {
                        return false;
                    }

                    values[n++] = x;
                }

                data = values;
                break;
            }
        }

        // Stopped on anything but the array's end (a nested array, a string, null), or too few values.
        return reader.TokenType == JsonTokenType.EndArray && n == count;
    }

    private static bool TryReadOutputs(ref Utf8JsonReader reader, out List<string>? outputs)
    {
        outputs = null;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            return false;
        }

        var list = new List<string>(1);
        while (reader.Read() && reader.TokenType == JsonTokenType.StartObject)
        {
            string? name = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("name"u8))
                {
                    if (name is not null || !reader.Read() || reader.TokenType != JsonTokenType.String)
                    {
                        return false;
                    }

                    name = reader.GetString();
                }
                else if (reader.ValueTextEquals("parameters"u8))
                {
                    return false; // binary_data and friends: the general path reads them.
                }
                else
                {
                    if (!reader.Read())
                    {
                        return false;
                    }

                    reader.Skip();
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || name is null || list.Contains(name))
            {
                return false;
            }

            list.Add(name);
        }

        if (reader.TokenType != JsonTokenType.EndArray)
        {
            return false;
        }

        outputs = list;
        return true;
    }
}
