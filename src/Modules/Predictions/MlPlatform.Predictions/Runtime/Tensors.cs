using System.Runtime.InteropServices;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Runtime;

/// <summary>An input or output of a model as the V2 protocol names it; -1 marks a dimension of any size.</summary>
public sealed record TensorSpec(string Name, string Datatype, long[] Shape, TensorElementType ElementType)
{
    /// <summary>True when the first dimension is free: requests can be stacked along it (micro-batching).</summary>
    public bool BatchFirst => Shape.Length > 0 && Shape[0] < 0;
}

/// <summary>A model's inputs and outputs, read from the loaded session (the authority, not the registry's copy).</summary>
public sealed record ModelSignature(IReadOnlyList<TensorSpec> Inputs, IReadOnlyList<TensorSpec> Outputs)
{
    private string[]? _outputNames;

    /// <summary>Made once: every Run asks for all outputs by name.</summary>
    public IReadOnlyList<string> OutputNames => _outputNames ??= Outputs.Select(o => o.Name).ToArray();

    public TensorSpec? Input(string name)
    {
        foreach (var input in Inputs)
        {
            if (input.Name == name)
            {
                return input;
            }
        }

        return null;
    }

    public bool BatchFirst => Inputs.All(i => i.BatchFirst) && Outputs.All(o => o.BatchFirst);

    public static ModelSignature From(InferenceSession session) =>
        new(Specs(session.InputMetadata), Specs(session.OutputMetadata));

    private static List<TensorSpec> Specs(IReadOnlyDictionary<string, NodeMetadata> nodes)
    {
        var specs = new List<TensorSpec>();
        foreach (var (name, node) in nodes)
        {
            if (!node.IsTensor)
            {
                continue; // Maps and sequences are not V2 tensors; they are neither fed nor returned.
            }

            var shape = node.Dimensions.Select(d => d < 0 ? -1L : d).ToArray();
            specs.Add(new TensorSpec(name, Datatypes.Of(node.ElementDataType), shape, node.ElementDataType));
        }

        return specs;
    }
}

/// <summary>Tensor data held in a managed array (float[], double[], int[], long[], bool[], string[]).</summary>
public sealed record TensorData(string Name, string Datatype, long[] Shape, Array Data)
{
    public long Rows => Shape.Length == 0 ? 1 : Shape[0];
}

/// <summary>The V2 datatype names and their ONNX element types.</summary>
public static class Datatypes
{
    public const string Fp32 = "FP32";
    public const string Fp64 = "FP64";
    public const string Fp16 = "FP16";
    public const string Bf16 = "BF16";
    public const string Int8 = "INT8";
    public const string Int16 = "INT16";
    public const string Int32 = "INT32";
    public const string Int64 = "INT64";
    public const string Uint8 = "UINT8";
    public const string Uint16 = "UINT16";
    public const string Uint32 = "UINT32";
    public const string Uint64 = "UINT64";
    public const string Bool = "BOOL";
    public const string Bytes = "BYTES";

    /// <summary>Every tensor datatype of the Open Inference Protocol, plus BF16 (Triton's extension).</summary>
    public const string Names = "BOOL, UINT8, UINT16, UINT32, UINT64, INT8, INT16, INT32, INT64, FP16, BF16, FP32, FP64 or BYTES";

    public static string Of(TensorElementType type) => type switch
    {
        TensorElementType.Float => Fp32,
        TensorElementType.Double => Fp64,
        TensorElementType.Int32 => Int32,
        TensorElementType.Int64 => Int64,
        TensorElementType.Bool => Bool,
        TensorElementType.String => Bytes,
        TensorElementType.Int8 => Int8,
        TensorElementType.Int16 => Int16,
        TensorElementType.UInt8 => Uint8,
        TensorElementType.UInt16 => Uint16,
        TensorElementType.UInt32 => Uint32,
        TensorElementType.UInt64 => Uint64,
        TensorElementType.Float16 => Fp16,
        TensorElementType.BFloat16 => Bf16,
        _ => type.ToString().ToUpperInvariant(),
    };

    public static bool Supported(string datatype) =>
        datatype is Fp32 or Fp64 or Fp16 or Bf16 or Int8 or Int16 or Int32 or Int64 or Uint8 or Uint16 or Uint32 or Uint64 or Bool or Bytes;

    public static Array Allocate(string datatype, int length) => datatype switch
    {
        Fp32 => new float[length],
        Fp64 => new double[length],
        Fp16 => new Float16[length],
        Bf16 => new BFloat16[length],
        Int8 => new sbyte[length],
        Int16 => new short[length],
        Int32 => new int[length],
        Int64 => new long[length],
        Uint8 => new byte[length],
        Uint16 => new ushort[length],
        Uint32 => new uint[length],
        Uint64 => new ulong[length],
        Bool => new bool[length],
        Bytes => Enumerable.Repeat(string.Empty, length).ToArray(),
        _ => throw new BadRequestException($"Datatype {datatype} is not supported; use {Names}."),
    };
}

/// <summary>
/// Element access shared by the codecs for the datatypes that have no case of their own there.
/// Arrays are told apart by their exact type: the runtime lets a byte[] pass for an sbyte[] (and
/// ushort[]/short[], uint[]/int[], ulong[]/long[]), so a type pattern alone would mix them up.
/// </summary>
public static class TensorValues
{
    public static bool Is<T>(Array data) => data.GetType() == typeof(T[]);

    /// <summary>
    /// Stores a JSON number in an integer or half-precision array; false when the value is not a
    /// number that fits the type (the caller names the problem). Float, double, bool and string
    /// arrays are the callers' own cases.
    /// </summary>
    public static bool TrySet(Array data, int i, JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Number)
        {
            return false;
        }

        switch (Type.GetTypeCode(data.GetType().GetElementType()))
        {
            case TypeCode.SByte when element.TryGetSByte(out var v): ((sbyte[])data)[i] = v; return true;
            case TypeCode.Int16 when element.TryGetInt16(out var v): ((short[])data)[i] = v; return true;
            case TypeCode.Int32 when element.TryGetInt32(out var v): ((int[])data)[i] = v; return true;
            case TypeCode.Int64 when element.TryGetInt64(out var v): ((long[])data)[i] = v; return true;
            case TypeCode.Byte when element.TryGetByte(out var v): ((byte[])data)[i] = v; return true;
            case TypeCode.UInt16 when element.TryGetUInt16(out var v): ((ushort[])data)[i] = v; return true;
            case TypeCode.UInt32 when element.TryGetUInt32(out var v): ((uint[])data)[i] = v; return true;
            case TypeCode.UInt64 when element.TryGetUInt64(out var v): ((ulong[])data)[i] = v; return true;
        }

        switch (data)
        {
            case Float16[] a: a[i] = (Float16)(float)element.GetDouble(); return true;
            case BFloat16[] a: a[i] = (BFloat16)(float)element.GetDouble(); return true;
            default: return false;
        }
    }

    /// <summary>What kind of value an array of this type holds, for error messages.</summary>
    public static string Kind(Array data) => Type.GetTypeCode(data.GetType().GetElementType()) switch
    {
        TypeCode.SByte => "8-bit integer",
        TypeCode.Int16 => "16-bit integer",
        TypeCode.Int32 => "32-bit integer",
        TypeCode.Int64 => "64-bit integer",
        TypeCode.Byte => "8-bit unsigned integer",
        TypeCode.UInt16 => "16-bit unsigned integer",
        TypeCode.UInt32 => "32-bit unsigned integer",
        TypeCode.UInt64 => "64-bit unsigned integer",
        TypeCode.Boolean => "boolean",
        TypeCode.String => "string",
        _ => "number",
    };

    /// <summary>One element as a double (shadow differences, CSV cells); 0 for strings.</summary>
    public static double ToDouble(Array data, int i) => Type.GetTypeCode(data.GetType().GetElementType()) switch
    {
        TypeCode.Single => ((float[])data)[i],
        TypeCode.Double => ((double[])data)[i],
        TypeCode.SByte => ((sbyte[])data)[i],
        TypeCode.Int16 => ((short[])data)[i],
        TypeCode.Int32 => ((int[])data)[i],
        TypeCode.Int64 => ((long[])data)[i],
        TypeCode.Byte => ((byte[])data)[i],
        TypeCode.UInt16 => ((ushort[])data)[i],
        TypeCode.UInt32 => ((uint[])data)[i],
        TypeCode.UInt64 => ((ulong[])data)[i],
        TypeCode.Boolean => ((bool[])data)[i] ? 1 : 0,
        _ => data switch
        {
            Float16[] a => (float)a[i],
            BFloat16[] a => (float)a[i],
            _ => 0,
        },
    };

    /// <summary>One element as JSON: numbers (null for a non-finite float, JSON has no NaN), booleans, strings.</summary>
    public static void Write(Utf8JsonWriter writer, Array data, int i)
    {
        switch (Type.GetTypeCode(data.GetType().GetElementType()))
        {
            case TypeCode.SByte: writer.WriteNumberValue(((sbyte[])data)[i]); return;
            case TypeCode.Int16: writer.WriteNumberValue(((short[])data)[i]); return;
            case TypeCode.Int32: writer.WriteNumberValue(((int[])data)[i]); return;
            case TypeCode.Int64: writer.WriteNumberValue(((long[])data)[i]); return;
            case TypeCode.Byte: writer.WriteNumberValue(((byte[])data)[i]); return;
            case TypeCode.UInt16: writer.WriteNumberValue(((ushort[])data)[i]); return;
            case TypeCode.UInt32: writer.WriteNumberValue(((uint[])data)[i]); return;
            case TypeCode.UInt64: writer.WriteNumberValue(((ulong[])data)[i]); return;
            case TypeCode.Boolean: writer.WriteBooleanValue(((bool[])data)[i]); return;
            case TypeCode.String: writer.WriteStringValue(((string[])data)[i]); return;
        }

        var value = ToDouble(data, i);
        if (!double.IsFinite(value))
        {
            writer.WriteNullValue();
        }
        else if (data is double[])
        {
            writer.WriteNumberValue(value);
        }
        else
        {
            writer.WriteNumberValue((float)value); // Shortest text that reads back as the same float.
        }
    }

    /// <summary>The bytes of a numeric or boolean array as they lie in memory (cache keys); strings are not covered.</summary>
    public static ReadOnlySpan<byte> AsBytes(Array data) => data switch
    {
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        bool[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        short[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        byte[] a => a,
        ushort[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        uint[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ulong[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        Float16[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        BFloat16[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        _ => [],
    };

    /// <summary>Approximate memory of an array (strings counted at 16 bytes each), for the cache's budget.</summary>
    public static long ByteSize(Array data) => data is string[] s ? s.Length * 16L : AsBytes(data).Length;
}

/// <summary>Checks request tensors against the signature and turns them into ONNX Runtime values.</summary>
public static class TensorBinding
{
    public static long ElementCount(long[] shape)
    {
        long count = 1;
        foreach (var d in shape)
        {
            count = checked(count * d);
        }

        return count;
    }

    /// <summary>Throws a 400 naming the first problem: unknown, missing or duplicate inputs, datatype, rank, dimension, element count, NaN/Inf.</summary>
    public static void Validate(ModelSignature signature, IReadOnlyList<TensorData> inputs, bool rejectNonFinite)
    {
        // Inputs are few: scans, not a set allocated per request.
        for (var k = 0; k < inputs.Count; k++)
        {
            var input = inputs[k];
            var spec = signature.Input(input.Name)
                ?? throw new BadRequestException($"Unknown input '{input.Name}'; the model's inputs are: {string.Join(", ", signature.Inputs.Select(i => i.Name))}.");
            for (var j = 0; j < k; j++)
            {
                if (inputs[j].Name == input.Name)
                {
                    throw new BadRequestException($"Input '{input.Name}' is given twice.");
                }
            }

            if (input.Datatype != spec.Datatype)
            {
                throw new BadRequestException($"Input '{input.Name}' has datatype {input.Datatype}; the model expects {spec.Datatype}.");
            }

            if (input.Shape.Length != spec.Shape.Length)
            {
                throw new BadRequestException($"Input '{input.Name}' has shape [{string.Join(",", input.Shape)}] of rank {input.Shape.Length}; the model expects rank {spec.Shape.Length}: [{Describe(spec.Shape)}].");
            }

            for (var i = 0; i < spec.Shape.Length; i++)
            {
                if (input.Shape[i] < 0 || (spec.Shape[i] >= 0 && input.Shape[i] != spec.Shape[i]))
                {
                    throw new BadRequestException($"Input '{input.Name}' has shape [{string.Join(",", input.Shape)}]; the model expects [{Describe(spec.Shape)}] (dimension {i}).");
                }
            }

            long expected;
            try
            {
                expected = ElementCount(input.Shape);
            }
            catch (OverflowException)
            {
                throw new BadRequestException($"Input '{input.Name}' has a shape too large to hold.");
            }

            if (expected != input.Data.Length)
            {
                throw new BadRequestException($"Input '{input.Name}' has {input.Data.Length} elements; its shape [{string.Join(",", input.Shape)}] needs {expected}.");
            }

            if (rejectNonFinite)
            {
                CheckFinite(input);
            }
        }

        // Every given input is known and none twice, so as many inputs as the model has means none is missing.
        if (inputs.Count != signature.Inputs.Count)
        {
            foreach (var spec in signature.Inputs)
            {
                if (!inputs.Any(i => i.Name == spec.Name))
                {
                    throw new BadRequestException($"Input '{spec.Name}' is missing; the model needs: {string.Join(", ", signature.Inputs.Select(i => i.Name))}.");
                }
            }
        }
    }

    private static void CheckFinite(TensorData input)
    {
        switch (input.Data)
        {
            case Float16[] or BFloat16[]:
                for (var i = 0; i < input.Data.Length; i++)
                {
                    var x = TensorValues.ToDouble(input.Data, i);
                    if (!double.IsFinite(x))
                    {
                        throw new BadRequestException($"Input '{input.Name}' holds {x} at element {i} (beyond the range of {input.Datatype} or not a number); NaN and infinities are refused.");
                    }
                }

                break;
            case float[] f:
                for (var i = 0; i < f.Length; i++)
                {
                    if (!float.IsFinite(f[i]))
                    {
                        throw new BadRequestException($"Input '{input.Name}' holds {f[i]} at element {i}; NaN and infinities are refused.");
                    }
                }

                break;
            case double[] d:
                for (var i = 0; i < d.Length; i++)
                {
                    if (!double.IsFinite(d[i]))
                    {
                        throw new BadRequestException($"Input '{input.Name}' holds {d[i]} at element {i}; NaN and infinities are refused.");
                    }
                }

                break;
        }
    }

    public static string Describe(long[] shape) => string.Join(",", shape.Select(d => d < 0 ? "-1" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>An ONNX Runtime value over the tensor's managed array (no copy), by its datatype (see <see cref="TensorValues"/> on why not by array type).</summary>
    public static OrtValue ToOrtValue(TensorData tensor) => tensor.Datatype switch
    {
        Datatypes.Fp32 => OrtValue.CreateTensorValueFromMemory((float[])tensor.Data, tensor.Shape),
        Datatypes.Fp64 => OrtValue.CreateTensorValueFromMemory((double[])tensor.Data, tensor.Shape),
        Datatypes.Int32 => OrtValue.CreateTensorValueFromMemory((int[])tensor.Data, tensor.Shape),
        Datatypes.Int64 => OrtValue.CreateTensorValueFromMemory((long[])tensor.Data, tensor.Shape),
        Datatypes.Bool => OrtValue.CreateTensorValueFromMemory((bool[])tensor.Data, tensor.Shape),
        Datatypes.Int8 => OrtValue.CreateTensorValueFromMemory((sbyte[])tensor.Data, tensor.Shape),
        Datatypes.Int16 => OrtValue.CreateTensorValueFromMemory((short[])tensor.Data, tensor.Shape),
        Datatypes.Uint8 => OrtValue.CreateTensorValueFromMemory((byte[])tensor.Data, tensor.Shape),
        Datatypes.Uint16 => OrtValue.CreateTensorValueFromMemory((ushort[])tensor.Data, tensor.Shape),
        Datatypes.Uint32 => OrtValue.CreateTensorValueFromMemory((uint[])tensor.Data, tensor.Shape),
        Datatypes.Uint64 => OrtValue.CreateTensorValueFromMemory((ulong[])tensor.Data, tensor.Shape),
        Datatypes.Fp16 => OrtValue.CreateTensorValueFromMemory((Float16[])tensor.Data, tensor.Shape),
        Datatypes.Bf16 => OrtValue.CreateTensorValueFromMemory((BFloat16[])tensor.Data, tensor.Shape),
        Datatypes.Bytes => OrtValue.CreateFromStringTensor(new DenseTensor<string>((string[])tensor.Data, tensor.Shape.Select(x => (int)x).ToArray())),
        _ => throw new BadRequestException($"Input '{tensor.Name}': unsupported datatype {tensor.Datatype}."),
    };

    /// <summary>Copies an output into a managed array of its own element type, so the native value can be freed at once.</summary>
    public static TensorData? FromOrtValue(string name, OrtValue value)
    {
        if (!value.IsTensor)
        {
            return null;
        }

        var info = value.GetTensorTypeAndShape();
        Array? data = info.ElementDataType switch
        {
            TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
            TensorElementType.Double => value.GetTensorDataAsSpan<double>().ToArray(),
            TensorElementType.Int32 => value.GetTensorDataAsSpan<int>().ToArray(),
            TensorElementType.Int64 => value.GetTensorDataAsSpan<long>().ToArray(),
            TensorElementType.Bool => value.GetTensorDataAsSpan<bool>().ToArray(),
            TensorElementType.String => value.GetStringTensorAsArray(),
            TensorElementType.Int8 => value.GetTensorDataAsSpan<sbyte>().ToArray(),
            TensorElementType.Int16 => value.GetTensorDataAsSpan<short>().ToArray(),
            TensorElementType.UInt8 => value.GetTensorDataAsSpan<byte>().ToArray(),
            TensorElementType.UInt16 => value.GetTensorDataAsSpan<ushort>().ToArray(),
            TensorElementType.UInt32 => value.GetTensorDataAsSpan<uint>().ToArray(),
            TensorElementType.UInt64 => value.GetTensorDataAsSpan<ulong>().ToArray(),
            TensorElementType.Float16 => value.GetTensorDataAsSpan<Float16>().ToArray(),
            TensorElementType.BFloat16 => value.GetTensorDataAsSpan<BFloat16>().ToArray(),
            _ => null, // Complex numbers and the like have no V2 datatype: such an output is left out.
        };
        return data is null ? null : new TensorData(name, Datatypes.Of(info.ElementDataType), info.Shape, data);
    }

    /// <summary>Writes a tensor's data as a flat JSON array (row-major).</summary>
    public static void WriteData(Utf8JsonWriter writer, Array data)
    {
        writer.WriteStartArray();
        switch (data)
        {
            case float[] f:
                foreach (var x in f)
                {
                    if (float.IsFinite(x))
                    {
                        writer.WriteNumberValue(x);
                    }
                    else
                    {
                        writer.WriteNullValue(); // JSON has no NaN; null marks a non-finite output.
                    }
                }

                break;
            case double[] d:
                foreach (var x in d)
                {
                    if (double.IsFinite(x))
                    {
                        writer.WriteNumberValue(x);
                    }
                    else
                    {
                        writer.WriteNullValue();
                    }
                }

                break;
            case int[] i when TensorValues.Is<int>(data):
                foreach (var x in i)
                {
                    writer.WriteNumberValue(x);
                }

                break;
            case long[] l when TensorValues.Is<long>(data):
                foreach (var x in l)
                {
                    writer.WriteNumberValue(x);
                }

                break;
            case bool[] b:
                foreach (var x in b)
                {
                    writer.WriteBooleanValue(x);
                }

                break;
            case string[] s:
                foreach (var x in s)
                {
                    writer.WriteStringValue(x);
                }

                break;
            default:
                for (var i = 0; i < data.Length; i++)
                {
                    TensorValues.Write(writer, data, i);
                }

                break;
        }

        writer.WriteEndArray();
    }

    /// <summary>One element as a double (for output differences of the shadow).</summary>
    public static double At(Array data, int i) => TensorValues.ToDouble(data, i);

    /// <summary>Stacks the requests' tensors of one input along the first dimension.</summary>
    public static TensorData Concat(string name, IReadOnlyList<TensorData> parts)
    {
        var first = parts[0];
        var total = parts.Sum(p => p.Data.Length);
        var data = Datatypes.Allocate(first.Datatype, total);
        var offset = 0;
        foreach (var part in parts)
        {
            Array.Copy(part.Data, 0, data, offset, part.Data.Length);
            offset += part.Data.Length;
        }

        var shape = (long[])first.Shape.Clone();
        shape[0] = parts.Sum(p => p.Shape[0]);
        return new TensorData(name, first.Datatype, shape, data);
    }

    /// <summary>The rows [start, start+count) of a batch output.</summary>
    public static TensorData Slice(TensorData whole, long start, long count)
    {
        var rowSize = whole.Shape[0] == 0 ? 0 : whole.Data.Length / whole.Shape[0];
        var data = Datatypes.Allocate(whole.Datatype, (int)(rowSize * count));
        Array.Copy(whole.Data, (int)(start * rowSize), data, 0, (int)(rowSize * count));
        var shape = (long[])whole.Shape.Clone();
        shape[0] = count;
        return new TensorData(whole.Name, whole.Datatype, shape, data);
    }
}
