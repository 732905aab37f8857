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
    public const string Int32 = "INT32";
    public const string Int64 = "INT64";
    public const string Bool = "BOOL";
    public const string Bytes = "BYTES";

    public static string Of(TensorElementType type) => type switch
    {
        TensorElementType.Float => Fp32,
        TensorElementType.Double => Fp64,
        TensorElementType.Int32 => Int32,
        TensorElementType.Int64 => Int64,
        TensorElementType.Bool => Bool,
        TensorElementType.String => Bytes,
        TensorElementType.Int8 => "INT8",
        TensorElementType.Int16 => "INT16",
        TensorElementType.UInt8 => "UINT8",
        TensorElementType.UInt16 => "UINT16",
        TensorElementType.UInt32 => "UINT32",
        TensorElementType.UInt64 => "UINT64",
        TensorElementType.Float16 => "FP16",
        TensorElementType.BFloat16 => "BF16",
        _ => type.ToString().ToUpperInvariant(),
    };

    public static bool Supported(string datatype) => datatype is Fp32 or Fp64 or Int32 or Int64 or Bool or Bytes;

    public static Array Allocate(string datatype, int length) => datatype switch
    {
        Fp32 => new float[length],
        Fp64 => new double[length],
        Int32 => new int[length],
        Int64 => new long[length],
        Bool => new bool[length],
        Bytes => Enumerable.Repeat(string.Empty, length).ToArray(),
        _ => throw new BadRequestException($"Datatype {datatype} is not supported; use FP32, FP64, INT32, INT64, BOOL or BYTES."),
    };
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
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var input in inputs)
        {
            var spec = signature.Input(input.Name)
                ?? throw new BadRequestException($"Unknown input '{input.Name}'; the model's inputs are: {string.Join(", ", signature.Inputs.Select(i => i.Name))}.");
            if (!seen.Add(input.Name))
            {
                throw new BadRequestException($"Input '{input.Name}' is given twice.");
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

        foreach (var spec in signature.Inputs)
        {
            if (!seen.Contains(spec.Name))
            {
                throw new BadRequestException($"Input '{spec.Name}' is missing; the model needs: {string.Join(", ", signature.Inputs.Select(i => i.Name))}.");
            }
        }
    }

    private static void CheckFinite(TensorData input)
    {
        switch (input.Data)
        {
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

    public static OrtValue ToOrtValue(TensorData tensor) => tensor.Data switch
    {
        float[] f => OrtValue.CreateTensorValueFromMemory(f, tensor.Shape),
        double[] d => OrtValue.CreateTensorValueFromMemory(d, tensor.Shape),
        int[] i => OrtValue.CreateTensorValueFromMemory(i, tensor.Shape),
        long[] l => OrtValue.CreateTensorValueFromMemory(l, tensor.Shape),
        bool[] b => OrtValue.CreateTensorValueFromMemory(b, tensor.Shape),
        string[] s => OrtValue.CreateFromStringTensor(new DenseTensor<string>(s, tensor.Shape.Select(x => (int)x).ToArray())),
        _ => throw new BadRequestException($"Input '{tensor.Name}': unsupported data."),
    };

    /// <summary>Copies an output into a managed array, so the native value can be freed at once.</summary>
    public static TensorData? FromOrtValue(string name, OrtValue value)
    {
        if (!value.IsTensor)
        {
            return null;
        }

        var info = value.GetTensorTypeAndShape();
        var shape = info.Shape;
        Array data = info.ElementDataType switch
        {
            TensorElementType.Float => value.GetTensorDataAsSpan<float>().ToArray(),
            TensorElementType.Double => value.GetTensorDataAsSpan<double>().ToArray(),
            TensorElementType.Int32 => value.GetTensorDataAsSpan<int>().ToArray(),
            TensorElementType.Int64 => value.GetTensorDataAsSpan<long>().ToArray(),
            TensorElementType.Bool => value.GetTensorDataAsSpan<bool>().ToArray(),
            TensorElementType.String => value.GetStringTensorAsArray(),
            _ => ConvertOther(value, info.ElementDataType),
        };
        return new TensorData(name, Datatypes.Of(info.ElementDataType) is var dt && Datatypes.Supported(dt) ? dt : Datatypes.Fp64, shape, data);
    }

    private static double[] ConvertOther(OrtValue value, TensorElementType type) => type switch
    {
        TensorElementType.Int8 => value.GetTensorDataAsSpan<sbyte>().ToArray().Select(x => (double)x).ToArray(),
        TensorElementType.UInt8 => value.GetTensorDataAsSpan<byte>().ToArray().Select(x => (double)x).ToArray(),
        TensorElementType.Int16 => value.GetTensorDataAsSpan<short>().ToArray().Select(x => (double)x).ToArray(),
        TensorElementType.UInt16 => value.GetTensorDataAsSpan<ushort>().ToArray().Select(x => (double)x).ToArray(),
        TensorElementType.UInt32 => value.GetTensorDataAsSpan<uint>().ToArray().Select(x => (double)x).ToArray(),
        TensorElementType.UInt64 => value.GetTensorDataAsSpan<ulong>().ToArray().Select(x => (double)x).ToArray(),
        _ => [],
    };

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
            case int[] i:
                foreach (var x in i)
                {
                    writer.WriteNumberValue(x);
                }

                break;
            case long[] l:
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
        }

        writer.WriteEndArray();
    }

    /// <summary>One element as a double (for output differences of the shadow).</summary>
    public static double At(Array data, int i) => data switch
    {
        float[] f => f[i],
        double[] d => d[i],
        int[] x => x[i],
        long[] l => l[i],
        bool[] b => b[i] ? 1 : 0,
        _ => 0,
    };

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
