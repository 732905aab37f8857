using System.Text;

namespace MlPlatform.Tests.Onnx;

/// <summary>
/// Writes small ONNX models as protobuf bytes, by hand, so tests need neither the internet nor a
/// protobuf library: y = Sigmoid(x · W + B) with x float [N, features] ("N" symbolic) and y
/// float [N, 1]. Field numbers are those of onnx.proto (ModelProto, GraphProto, NodeProto, ...).
/// </summary>
public static class OnnxModelWriter
{
    private const int FloatType = 1;
    private const int Int64Type = 7;

    public static byte[] LogisticRegression(
        float[] weights,
        float bias,
        string input = "x",
        string output = "y",
        string producer = "mlplatform-tests",
        string graphName = "logreg",
        IReadOnlyDictionary<string, string>? metadata = null,
        string? externalWeights = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var features = weights.Length;
        var graph = new Proto()
            .Message(1, Node([input, "W"], ["xw"], "matmul", "MatMul"))
            .Message(1, Node(["xw", "B"], ["z"], "add", "Add"))
            .Message(1, Node(["z"], [output], "sigmoid", "Sigmoid"))
            .String(2, graphName)
            .Message(5, externalWeights is null ? FloatTensor("W", [features, 1], weights) : ExternalFloatTensor("W", [features, 1], externalWeights))
            .Message(5, FloatTensor("B", [1], [bias]))
            .Message(11, ValueInfo(input, [null, features], "N"))
            .Message(12, ValueInfo(output, [null, 1], "N"));

        var model = new Proto()
            .Varint(1, 8) // ir_version 8 (ONNX 1.10+), read by every recent ONNX Runtime
            .String(2, producer)
            .String(3, "1.0")
            .String(4, "ai.mlplatform.tests")
            .Varint(5, 1)
            .Message(7, graph)
            .Message(8, new Proto().String(1, string.Empty).Varint(2, 13)); // opset 13 of the default domain
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
        {
            model.Message(14, new Proto().String(1, key).String(2, value));
        }

        return model.ToArray();
    }

    /// <summary>
    /// y = Reshape(x, [rows, features]) with x float [N, features]: loads (N is symbolic, so nothing
    /// can be checked at load) and computes for N = <paramref name="rows"/>, but ONNX Runtime refuses
    /// every other row count at Run (element count mismatch).
    /// </summary>
    public static byte[] FixedRowsReshape(int rows, int features, string input = "x", string output = "y")
    {
        var shape = new byte[16];
        BitConverter.TryWriteBytes(shape.AsSpan(0), (long)rows);
        BitConverter.TryWriteBytes(shape.AsSpan(8), (long)features);
        var graph = new Proto()
            .Message(1, Node([input, "shape"], [output], "reshape", "Reshape"))
            .String(2, "fixed-rows")
            .Message(5, new Proto().Varint(1, 2).Varint(2, Int64Type).String(8, "shape").Bytes(9, shape))
            .Message(11, ValueInfo(input, [null, features], "N"))
            .Message(12, ValueInfo(output, [rows, features], "N"));
        return new Proto()
            .Varint(1, 8)
            .String(2, "mlplatform-tests")
            .Message(7, graph)
            .Message(8, new Proto().String(1, string.Empty).Varint(2, 13))
            .ToArray();
    }

    /// <summary>What the model computes, for checking ONNX Runtime's answer.</summary>
    public static float Expected(float[] weights, float bias, float[] row)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(row);
        var z = bias;
        for (var i = 0; i < weights.Length; i++)
        {
            z += weights[i] * row[i];
        }

        return 1f / (1f + MathF.Exp(-z));
    }

    private static Proto Node(string[] inputs, string[] outputs, string name, string opType)
    {
        var node = new Proto();
        foreach (var input in inputs)
        {
            node.String(1, input);
        }

        foreach (var output in outputs)
        {
            node.String(2, output);
        }

        return node.String(3, name).String(4, opType);
    }

    private static Proto FloatTensor(string name, long[] dims, float[] values)
    {
        var tensor = new Proto();
        foreach (var dim in dims)
        {
            tensor.Varint(1, (ulong)dim);
        }

        var raw = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BitConverter.TryWriteBytes(raw.AsSpan(i * 4), values[i]); // raw_data is little-endian, as on x64
        }

        return tensor.Varint(2, FloatType).String(8, name).Bytes(9, raw);
    }

    /// <summary>A float tensor whose values ONNX Runtime is told to read from another file (external data).</summary>
    private static Proto ExternalFloatTensor(string name, long[] dims, string location)
    {
        var tensor = new Proto();
        foreach (var dim in dims)
        {
            tensor.Varint(1, (ulong)dim);
        }

        var length = dims.Aggregate(4L, (size, dim) => size * dim);
        return tensor.Varint(2, FloatType).String(8, name)
            .Message(13, new Proto().String(1, "location").String(2, location))
            .Message(13, new Proto().String(1, "length").String(2, length.ToString(System.Globalization.CultureInfo.InvariantCulture)))
            .Varint(14, 1); // data_location = EXTERNAL
    }

    /// <summary>A float tensor type; a null dimension is the symbolic <paramref name="symbol"/>.</summary>
    private static Proto ValueInfo(string name, long?[] dims, string symbol)
    {
        var shape = new Proto();
        foreach (var dim in dims)
        {
            shape.Message(1, dim is { } value ? new Proto().Varint(1, (ulong)value) : new Proto().String(2, symbol));
        }

        var tensorType = new Proto().Varint(1, FloatType).Message(2, shape);
        return new Proto().String(1, name).Message(2, new Proto().Message(1, tensorType));
    }

    /// <summary>The protobuf wire format: varints (type 0) and length-delimited fields (type 2).</summary>
    private sealed class Proto
    {
        private readonly MemoryStream _buffer = new();

        public Proto Varint(int field, ulong value)
        {
            Key(field, 0);
            Raw(value);
            return this;
        }

        public Proto String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Proto Bytes(int field, byte[] value)
        {
            Key(field, 2);
            Raw((ulong)value.Length);
            _buffer.Write(value);
            return this;
        }

        public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _buffer.ToArray();

        private void Key(int field, int wireType) => Raw(((ulong)field << 3) | (uint)wireType);

        private void Raw(ulong value)
        {
            while (value >= 0x80)
            {
                _buffer.WriteByte((byte)(value | 0x80));
                value >>= 7;
            }

            _buffer.WriteByte((byte)value);
        }
    }
}
