using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.Predictions.Inference;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UnitTests.Predictions;

/// <summary>
/// The V2 binary tensor data extension: tensors as little-endian bytes after the JSON, read into
/// the same arrays as their JSON form, written back as the extension lays them out, and every
/// inconsistency between the JSON's sizes and the bytes a 400 naming it.
/// </summary>
public sealed class V2BinaryTests
{
    [Fact]
    public void Given_binary_and_JSON_inputs_in_one_request_Then_both_read_into_their_arrays()
    {
        float[] x = [0.5f, -1.25f, 3e7f];
        var json = """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}},{"name":"k","shape":[2],"datatype":"INT64","data":[7,-9]},{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":16}}]}""";
        var (body, jsonLength) = Body(json, Floats(x), Strings("ünï", "a b"));

        var request = V2Codec.ParseInfer(body, jsonLength, 1_000);

        request.Inputs[0].Data.ShouldBeOfType<float[]>().ShouldBe(x);
        request.Inputs[0].Shape.ShouldBe([1L, 3L]);
        request.Inputs[1].Data.ShouldBeOfType<long[]>().ShouldBe([7L, -9L]);
        request.Inputs[2].Data.ShouldBeOfType<string[]>().ShouldBe(["ünï", "a b"]);
    }

    public static TheoryData<string, Array> FixedWidth() => new()
    {
        { "FP32", new[] { 1.5f, float.Epsilon, -0f, 65504f } },
        { "FP64", new[] { 0.1, -1e300, double.MaxValue, 2 } },
        { "FP16", new[] { (Float16)0.5f, (Float16)(-2.25f), (Float16)1024f, (Float16)65504f } },
        { "BF16", new[] { (BFloat16)0.5f, (BFloat16)(-2.25f), (BFloat16)1024f, (BFloat16)3.140625f } },
        { "INT8", new sbyte[] { -128, 127, 0, -1 } },
        { "INT16", new short[] { -32768, 32767, 5, -5 } },
        { "INT32", new[] { int.MinValue, int.MaxValue, 1, -1 } },
        { "INT64", new[] { long.MinValue, long.MaxValue, 9007199254740993L, -1 } },
        { "UINT8", new byte[] { 0, 255, 7, 128 } },
        { "UINT16", new ushort[] { 0, 65535, 9, 40000 } },
        { "UINT32", new[] { 0u, uint.MaxValue, 11u, 3000000000u } },
        { "UINT64", new[] { 0ul, ulong.MaxValue, 13ul, 9007199254740993ul } },
        { "BOOL", new[] { true, false, false, true } },
    };

    [Theory]
    [MemberData(nameof(FixedWidth))]
    public void Given_every_fixed_width_datatype_Then_written_bytes_read_back_to_the_same_tensor(string datatype, Array values)
    {
        var tensor = new TensorData("t", datatype, [2, 2], values);
        var written = new ArrayBufferWriter<byte>();

        V2Binary.Write(written, tensor);

        written.WrittenCount.ShouldBe(4 * V2Binary.Width(datatype));
        V2Binary.Size(tensor).ShouldBe(written.WrittenCount);
        var read = V2Binary.ReadTensor("t", datatype, [2, 2], 4, written.WrittenSpan);
        read.Data.GetType().ShouldBe(values.GetType());
        read.Data.Cast<object>().ShouldBe(values.Cast<object>());
    }

    [Fact]
    public void Given_little_endian_bytes_Then_values_are_read_as_the_extension_lays_them_out()
    {
        // Written by hand, not by our writer: 1 and -2 as INT32, little-endian.
        byte[] bytes = [1, 0, 0, 0, 0xFE, 0xFF, 0xFF, 0xFF];

        V2Binary.ReadTensor("i", "INT32", [2], 2, bytes).Data.ShouldBeOfType<int[]>().ShouldBe([1, -2]);
        V2Binary.ReadTensor("b", "BOOL", [8], 8, [1, 0, 1, 1, 0, 0, 0, 1]).Data.ShouldBeOfType<bool[]>().ShouldBe([true, false, true, true, false, false, false, true]);
    }

    [Fact]
    public void Given_BYTES_tensor_Then_each_element_is_written_after_its_four_byte_length()
    {
        var tensor = new TensorData("s", "BYTES", [3], new[] { "ab", string.Empty, "é" });
        var written = new ArrayBufferWriter<byte>();

        V2Binary.Write(written, tensor);

        written.WrittenSpan.ToArray().ShouldBe(Strings("ab", string.Empty, "é"));
        V2Binary.Size(tensor).ShouldBe(4 + 2 + 4 + 4 + 2);
        V2Binary.ReadTensor("s", "BYTES", [3], 3, written.WrittenSpan).Data.ShouldBe(new[] { "ab", string.Empty, "é" });
    }

    public static TheoryData<string, string, byte[], string> Malformed() => new()
    {
        { "size short of the shape", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":8}}]}""", new byte[8], "needs 12" },
        { "bytes left after the inputs", """{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","parameters":{"binary_data_size":8}}]}""", new byte[12], "4 bytes after" },
        { "size past the body", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}""", new byte[8], "only 8 bytes" },
        { "both data and binary", """{"inputs":[{"name":"x","shape":[1,1],"datatype":"FP32","data":[1],"parameters":{"binary_data_size":4}}]}""", new byte[4], "not both" },
        { "negative size", """{"inputs":[{"name":"x","shape":[0],"datatype":"FP32","parameters":{"binary_data_size":-4}}]}""", [], "≥ 0" },
        { "size not a number", """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":"4"}}]}""", new byte[4], "whole number" },
        { "boolean byte 2", """{"inputs":[{"name":"b","shape":[3],"datatype":"BOOL","parameters":{"binary_data_size":3}}]}""", [1, 2, 0], "element 1 is the byte 2" },
        { "BYTES length past its data", """{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}""", [9, 0, 0, 0, 65, 66], "past the end" },
        { "BYTES not UTF-8", """{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":6}}]}""", [2, 0, 0, 0, 0xC3, 0x28], "not UTF-8" },
        { "BYTES elements short of the size", """{"inputs":[{"name":"s","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":7}}]}""", [2, 0, 0, 0, 65, 66, 67], "take 6" },
        { "binary_data_output not a boolean", """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"parameters":{"binary_data_output":"yes"}}""", [], "binary_data_output must be true or false" },
        { "binary_data not a boolean", """{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{"name":"y","parameters":{"binary_data":1}}]}""", [], "binary_data must be true or false" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Given_binary_request_inconsistent_with_its_JSON_Then_400_names_the_problem(string problem, string json, byte[] binary, string reason)
    {
        var (body, jsonLength) = Body(json, binary);

        Should.Throw<BadRequestException>(() => V2Codec.ParseInfer(body, jsonLength, 1_000), problem).Message.ShouldContain(reason);
    }

    [Fact]
    public void Given_binary_size_without_the_header_Then_400_says_to_send_the_header()
    {
        var body = Encoding.UTF8.GetBytes("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}""");

        Should.Throw<BadRequestException>(() => V2Codec.ParseInfer(body, 1_000)).Message.ShouldContain(V2Binary.HeaderName);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("+3")]
    [InlineData("101")]
    public void Given_header_that_is_not_a_length_within_the_body_Then_400(string header)
    {
        Should.Throw<BadRequestException>(() => V2Binary.JsonLength(header, 100)).Message.ShouldContain(V2Binary.HeaderName);
        V2Binary.JsonLength("100", 100).ShouldBe(100);
        V2Binary.JsonLength(null, 100).ShouldBeNull();
    }

    [Fact]
    public void Given_outputs_asked_as_binary_by_default_and_one_as_JSON_Then_answer_has_sizes_in_JSON_and_bytes_after_it_in_order()
    {
        var body = Encoding.UTF8.GetBytes("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"parameters":{"binary_data_output":true},"outputs":[{"name":"a"},{"name":"j","parameters":{"binary_data":false}},{"name":"c"}]}""");
        var request = V2Codec.ParseInfer(body, 1_000);
        TensorData[] outputs =
        [
            new("a", "FP32", [2], new[] { 1f, 2f }),
            new("j", "INT64", [1], new[] { 5L }),
            new("c", "BYTES", [1], new[] { "hi" }),
        ];

        var binary = request.BinaryFor(outputs);
        binary.ShouldBe([true, false, true]);
        var written = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(written))
        {
            V2Codec.WriteInferResponse(writer, "ep", "1", null, outputs, binary);
        }

        var jsonLength = written.WrittenCount;
        V2Codec.WriteBinaryOutputs(written, outputs, binary!);

        using var answer = JsonDocument.Parse(written.WrittenMemory[..jsonLength]);
        var o = answer.RootElement.GetProperty("outputs");
        o[0].GetProperty("parameters").GetProperty("binary_data_size").GetInt64().ShouldBe(8);
        o[0].TryGetProperty("data", out _).ShouldBeFalse();
        o[1].GetProperty("data")[0].GetInt64().ShouldBe(5);
        o[2].GetProperty("parameters").GetProperty("binary_data_size").GetInt64().ShouldBe(6);
        written.WrittenSpan[jsonLength..].ToArray().ShouldBe([.. Floats([1f, 2f]), .. Strings("hi")]);
    }

    [Fact]
    public void Given_no_binary_asked_or_every_output_declining_Then_the_answer_is_plain_JSON()
    {
        TensorData[] outputs = [new("y", "FP32", [1], new[] { 1f })];

        V2Codec.ParseInfer(Encoding.UTF8.GetBytes("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}]}"""), 1_000).BinaryFor(outputs).ShouldBeNull();
        V2Codec.ParseInfer(Encoding.UTF8.GetBytes("""{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"parameters":{"binary_data_output":true},"outputs":[{"name":"y","parameters":{"binary_data":false}}]}"""), 1_000)
            .BinaryFor(outputs).ShouldBeNull();
    }

    private static (byte[] Body, int JsonLength) Body(string json, params byte[][] sections)
    {
        var header = Encoding.UTF8.GetBytes(json);
        return ([.. header, .. sections.SelectMany(s => s)], header.Length);
    }

    private static byte[] Floats(float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (var i = 0; i < values.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        }

        return bytes;
    }

    private static byte[] Strings(params string[] values)
    {
        var bytes = new List<byte>();
        foreach (var value in values)
        {
            var utf8 = Encoding.UTF8.GetBytes(value);
            var length = new byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(length, (uint)utf8.Length);
            bytes.AddRange(length);
            bytes.AddRange(utf8);
        }

        return [.. bytes];
    }
}
