using System.Text;

namespace MlPlatform.Benchmarks.Onnx;

/// <summary>
/// Dense networks written as ONNX protobuf by hand, for models that take about a millisecond per row.
/// Weights come from a seeded generator, so every run serves the same file.
/// </summary>
public static class MlpModelWriter
{
    private const int FloatType = 1;
    private const int Int64Type = 7;

    /// <summary>
    /// A compute-bound row: x [N, inputs] is spread over <paramref name="rows"/> rows (x + B, B a
    /// constant [rows, inputs]), each row goes through (MatMul, Relu) × layers of width
    /// <paramref name="hidden"/> and MatMul → 1, and the rows are averaged: y [N, 1]. Matrix-matrix
    /// products over weights that fit in a core's L2 cache, so the time is arithmetic, not memory traffic.
    /// </summary>
    public static byte[] WriteCompute(int inputs, int rows, int hidden, int layers, int seed = 42)
    {
        var random = new Random(seed);
        var graph = new Proto();
        graph.Message(1, Node(["x", "spread_shape"], ["x3"], "spread_reshape", "Reshape"));
        graph.Message(5, Int64s("spread_shape", [-1, 1, inputs]));
        graph.Message(1, Node(["x3", "B"], ["r"], "spread", "Add"));
        graph.Message(5, Tensor("B", [1, rows, inputs], Weights(random, rows * inputs, 1.0)));
        var (previous, width) = Layers(graph, random, "r", inputs, hidden, layers);

        // [N, rows, hidden] → [N, rows, 1] → [N, rows] → mean over the rows → [N, 1].
        graph.Message(1, Node([previous, "Wout"], ["o3"], "out", "MatMul"));
        graph.Message(5, Tensor("Wout", [width, 1], Weights(random, width, 1.0 / Math.Sqrt(width))));
        graph.Message(1, Node(["o3", "rows_shape"], ["o2"], "rows_reshape", "Reshape"));
        graph.Message(5, Int64s("rows_shape", [-1, rows]));
        graph.Message(1, Node(["o2", "Wmean"], ["y"], "mean", "MatMul"));
        graph.Message(5, Tensor("Wmean", [rows, 1], Enumerable.Repeat(1f / rows, rows).ToArray()));
        return Model(graph, inputs);
    }

    public static byte[] Write(int inputs, int hidden, int layers, int seed = 42)
    {
        var random = new Random(seed);
        var graph = new Proto();
        var (previous, width) = Layers(graph, random, "x", inputs, hidden, layers);
        graph.Message(1, Node([previous, "Wout"], ["y"], "out", "MatMul"));
        graph.Message(5, Tensor("Wout", [width, 1], Weights(random, width, 1.0 / Math.Sqrt(width))));
        return Model(graph, inputs);
    }

    /// <summary>(MatMul, Relu) × <paramref name="layers"/> of width <paramref name="hidden"/> after <paramref name="input"/>; the last output's name and width.</summary>
    private static (string Output, int Width) Layers(Proto graph, Random random, string input, int width, int hidden, int layers)
    {
        var previous = input;
        for (var l = 0; l < layers; l++)
        {
            var w = $"W{l}";
            graph.Message(1, Node([previous, w], [$"h{l}"], $"matmul{l}", "MatMul"));
            graph.Message(1, Node([$"h{l}"], [$"a{l}"], $"relu{l}", "Relu"));
            graph.Message(5, Tensor(w, [width, hidden], Weights(random, width * hidden, 1.0 / Math.Sqrt(width))));
            previous = $"a{l}";
            width = hidden;
        }

        return (previous, width);
    }

    private static byte[] Model(Proto graph, int inputs)
    {
        graph.String(2, "mlp");
        graph.Message(11, ValueInfo("x", inputs));
        graph.Message(12, ValueInfo("y", 1));
        return new Proto()
            .Varint(1, 8)
            .String(2, "mlplatform-bench")
            .Message(7, graph)
            .Message(8, new Proto().String(1, string.Empty).Varint(2, 13))
            .ToArray();
    }

    private static Proto Int64s(string name, long[] values)
    {
        var raw = new byte[values.Length * 8];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        return new Proto().Varint(1, (ulong)values.Length).Varint(2, Int64Type).String(8, name).Bytes(9, raw);
    }

    private static float[] Weights(Random random, int count, double scale) =>
        Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() * 2 - 1) * scale)).ToArray();

    private static Proto Node(string[] inputs, string[] outputs, string name, string op)
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

        return node.String(3, name).String(4, op);
    }

    private static Proto Tensor(string name, long[] dims, float[] values)
    {
        var tensor = new Proto();
        foreach (var dim in dims)
        {
            tensor.Varint(1, (ulong)dim);
        }

        var raw = new byte[values.Length * 4];
        Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
        return tensor.Varint(2, FloatType).String(8, name).Bytes(9, raw);
    }

    private static Proto ValueInfo(string name, int width)
    {
        var shape = new Proto()
            .Message(1, new Proto().String(2, "N"))
            .Message(1, new Proto().Varint(1, (ulong)width));
        return new Proto().String(1, name).Message(2, new Proto().Message(1, new Proto().Varint(1, FloatType).Message(2, shape)));
    }

    private sealed class Proto
    {
        private readonly MemoryStream _buffer = new();

        public Proto Varint(int field, ulong value)
        {
            Raw(((ulong)field << 3) | 0);
            Raw(value);
            return this;
        }

        public Proto String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public Proto Bytes(int field, byte[] value)
        {
            Raw(((ulong)field << 3) | 2);
            Raw((ulong)value.Length);
            _buffer.Write(value);
            return this;
        }

        public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _buffer.ToArray();

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
