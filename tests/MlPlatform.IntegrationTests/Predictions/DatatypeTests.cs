using System.Buffers.Binary;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>
/// Every tensor datatype of the Open Inference Protocol through V2, with a model the test writes:
/// one Identity per datatype, so each answer must give back exactly what was sent, under the
/// datatype the metadata names.
/// </summary>
public sealed class DatatypeTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    /// <summary>V2 datatype, ONNX TensorProto element type, two rows of two values that the type holds exactly.</summary>
    private static readonly (string Datatype, int OnnxType, object[] Data)[] Types =
    [
        ("FP16", 10, [0.5, -2.25, 1024, 0.099975586]),
        ("BF16", 16, [0.5, -2.25, 1024, 3.140625]),
        ("INT8", 3, [-128, 127, 0, -1]),
        ("INT16", 5, [-32768, 32767, 5, -5]),
        ("UINT8", 2, [0, 255, 7, 128]),
        ("UINT16", 4, [0, 65535, 9, 40000]),
        ("UINT32", 12, [0, 4294967295u, 11, 3000000000u]),
        ("UINT64", 13, [0, 18446744073709551615ul, 13, 9007199254740993ul]),
        ("INT32", 6, [-2147483648, 2147483647, 1, -1]),
        ("INT64", 7, [-9007199254740993L, 9007199254740993L, 1, -1]),
        ("FP64", 11, [0.1, -1e300, 2.5, 3]),
        ("BOOL", 9, [true, false, false, true]),
        ("BYTES", 8, ["a", "", "ünï", "x y"]),
    ];

    private static string InputName(string datatype) => datatype.ToLowerInvariant();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_model_with_every_V2_datatype_Then_metadata_names_them_and_infer_returns_each_tensor_unchanged_under_its_datatype(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await TypesEndpoint(api);

        var metadata = await Json(await api.Viewer.GetAsync($"/v2/models/{endpoint}"), HttpStatusCode.OK);
        foreach (var (datatype, _, _) in Types)
        {
            metadata.GetProperty("inputs").EnumerateArray().Single(i => i.GetProperty("name").GetString() == InputName(datatype))
                .GetProperty("datatype").GetString().ShouldBe(datatype);
            metadata.GetProperty("outputs").EnumerateArray().Single(i => i.GetProperty("name").GetString() == InputName(datatype) + "_out")
                .GetProperty("datatype").GetString().ShouldBe(datatype);
        }

        var response = await Json(await Infer(api.Viewer, endpoint, AllInputs()), HttpStatusCode.OK);

        EveryOutputEqualsItsInput(response);

        // BOOL also takes 0 and 1, as clients built on numpy send it.
        var numeric = AllInputs(("BOOL", [1, 0, 0, 1]));
        var answer = await Json(await Infer(api.Viewer, endpoint, numeric), HttpStatusCode.OK);
        answer.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == "bool_out")
            .GetProperty("data").EnumerateArray().Select(b => b.GetBoolean()).ShouldBe([true, false, false, true]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_every_datatype_sent_as_binary_Then_binary_answer_holds_the_same_bytes_and_JSON_answer_the_same_values(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await TypesEndpoint(api);
        var sections = Types.Select(t => Encode(t.Datatype, t.Data)).ToArray();
        string Header(bool binaryOutputs) => JsonSerializer.Serialize(new
        {
            inputs = Types.Select((t, i) => new { name = InputName(t.Datatype), datatype = t.Datatype, shape = new[] { 2, 2 }, parameters = new { binary_data_size = sections[i].Length } }).ToArray(),
            parameters = new { binary_data_output = binaryOutputs },
        });
        var bytes = sections.SelectMany(s => s).ToArray();

        // As tritonclient sends it: no content type, binary in and out.
        var (json, binary) = await BinaryAnswer(await InferBinary(api.Viewer, endpoint, Header(binaryOutputs: true), bytes));

        for (var i = 0; i < Types.Length; i++)
        {
            var name = InputName(Types[i].Datatype) + "_out";
            var output = json.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == name);
            output.GetProperty("datatype").GetString().ShouldBe(Types[i].Datatype);
            output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ShouldBe([2, 2]);
            output.TryGetProperty("data", out _).ShouldBeFalse(name);
            binary[name].ShouldBe(sections[i], Types[i].Datatype);
        }

        // Binary in, JSON out: the same values as when they were sent as JSON.
        EveryOutputEqualsItsInput(await Json(await InferBinary(api.Viewer, endpoint, Header(binaryOutputs: false), bytes, "application/octet-stream"), HttpStatusCode.OK));

        // The bytes must match what the JSON says: a BOOL byte that is not 0 or 1, and a size one short.
        var badBool = bytes.ToArray();
        badBool[Types.TakeWhile(t => t.Datatype != "BOOL").Sum(t => Encode(t.Datatype, t.Data).Length)] = 2;
        (await Error(await InferBinary(api.Viewer, endpoint, Header(binaryOutputs: true), badBool), HttpStatusCode.BadRequest)).ShouldContain("'bool'");
        (await Error(await InferBinary(api.Viewer, endpoint, Header(binaryOutputs: true), bytes[..^1]), HttpStatusCode.BadRequest)).ShouldContain("'bytes'");
        (await Error(await InferBinary(api.Viewer, endpoint, Header(binaryOutputs: true), bytes, jsonLength: "x"), HttpStatusCode.BadRequest)).ShouldContain("Inference-Header-Content-Length");
    }

    /// <summary>Each datatype's values as the binary extension lays them out, written here independently of the server's codec.</summary>
    private static byte[] Encode(string datatype, object[] data)
    {
        var bytes = new List<byte>();
        foreach (var value in data)
        {
            var element = new byte[8];
            int width;
            switch (datatype)
            {
                case "FP16": BinaryPrimitives.WriteHalfLittleEndian(element, (Half)Convert.ToDouble(value, CultureInfo.InvariantCulture)); width = 2; break;
                case "BF16": BinaryPrimitives.WriteUInt16LittleEndian(element, (ushort)(BitConverter.SingleToUInt32Bits(Convert.ToSingle(value, CultureInfo.InvariantCulture)) >> 16)); width = 2; break;
                case "INT8": element[0] = (byte)Convert.ToSByte(value, CultureInfo.InvariantCulture); width = 1; break;
                case "INT16": BinaryPrimitives.WriteInt16LittleEndian(element, Convert.ToInt16(value, CultureInfo.InvariantCulture)); width = 2; break;
                case "UINT8": element[0] = Convert.ToByte(value, CultureInfo.InvariantCulture); width = 1; break;
                case "UINT16": BinaryPrimitives.WriteUInt16LittleEndian(element, Convert.ToUInt16(value, CultureInfo.InvariantCulture)); width = 2; break;
                case "UINT32": BinaryPrimitives.WriteUInt32LittleEndian(element, Convert.ToUInt32(value, CultureInfo.InvariantCulture)); width = 4; break;
                case "UINT64": BinaryPrimitives.WriteUInt64LittleEndian(element, Convert.ToUInt64(value, CultureInfo.InvariantCulture)); width = 8; break;
                case "INT32": BinaryPrimitives.WriteInt32LittleEndian(element, Convert.ToInt32(value, CultureInfo.InvariantCulture)); width = 4; break;
                case "INT64": BinaryPrimitives.WriteInt64LittleEndian(element, Convert.ToInt64(value, CultureInfo.InvariantCulture)); width = 8; break;
                case "FP64": BinaryPrimitives.WriteDoubleLittleEndian(element, Convert.ToDouble(value, CultureInfo.InvariantCulture)); width = 8; break;
                case "BOOL": element[0] = (bool)value ? (byte)1 : (byte)0; width = 1; break;
                case "BYTES":
                    var utf8 = Encoding.UTF8.GetBytes((string)value);
                    BinaryPrimitives.WriteUInt32LittleEndian(element, (uint)utf8.Length);
                    bytes.AddRange(element[..4]);
                    bytes.AddRange(utf8);
                    continue;
                default: throw new ArgumentOutOfRangeException(nameof(datatype), datatype, null);
            }

            bytes.AddRange(element[..width]);
        }

        return [.. bytes];
    }

    private static void EveryOutputEqualsItsInput(JsonElement response)
    {
        foreach (var (datatype, _, data) in Types)
        {
            var output = response.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == InputName(datatype) + "_out");
            output.GetProperty("datatype").GetString().ShouldBe(datatype);
            output.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ShouldBe([2, 2]);
            var values = output.GetProperty("data").EnumerateArray().ToList();
            for (var i = 0; i < data.Length; i++)
            {
                if (data[i] is string text)
                {
                    values[i].GetString().ShouldBe(text, $"{datatype} element {i}");
                }
                else
                {
                    // Compared as JSON text: integers of 64 bits must come back digit for digit.
                    values[i].GetRawText().ShouldBe(JsonSerializer.Serialize(data[i]), $"{datatype} element {i}");
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_values_a_datatype_cannot_hold_Then_400_naming_the_input_and_element(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await TypesEndpoint(api);

        (await Error(await Infer(api.Viewer, endpoint, AllInputs(("UINT8", [0, 256, 1, 2]))), HttpStatusCode.BadRequest)).ShouldContain("element 1");
        (await Error(await Infer(api.Viewer, endpoint, AllInputs(("INT8", [0, 1.5, 1, 2]))), HttpStatusCode.BadRequest)).ShouldContain("8-bit integer");
        (await Error(await Infer(api.Viewer, endpoint, AllInputs(("UINT64", [-1, 0, 1, 2]))), HttpStatusCode.BadRequest)).ShouldContain("'uint64'");
        // 70000 is beyond half precision (65504): it would become infinity, which the NaN/Inf policy refuses.
        (await Error(await Infer(api.Viewer, endpoint, AllInputs(("FP16", [0, 70000, 1, 2]))), HttpStatusCode.BadRequest)).ShouldContain("fp16");
        (await Error(await Infer(api.Viewer, endpoint, AllInputs(("BOOL", [2, 0, 0, 1]))), HttpStatusCode.BadRequest)).ShouldContain("boolean");
        (await Error(await Infer(api.Viewer, endpoint, AllInputs(("BYTES", [1, 2, 3, 4]))), HttpStatusCode.BadRequest)).ShouldContain("string");
    }

    private static object AllInputs(params (string Datatype, object[] Data)[] replace) => new
    {
        inputs = Types.Select(t => new
        {
            name = InputName(t.Datatype),
            datatype = t.Datatype,
            shape = new[] { 2, 2 },
            data = replace.FirstOrDefault(r => r.Datatype == t.Datatype).Data ?? t.Data,
        }).ToArray(),
    };

    private static async Task<string> TypesEndpoint(Infrastructure.WorkflowTestAccounts api)
    {
        var model = NewName("types");
        await Json(await CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        await Json(await UploadRaw(api.Maintainer, api.Project, model, IdentityModel(Types.Select(t => (InputName(t.Datatype), t.OnnxType)).ToArray())), HttpStatusCode.Created);
        return await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } } });
    }

    /// <summary>An ONNX model (opset 13) with, per (name, element type), an input name [N, 2] and an output name_out = Identity(name).</summary>
    private static byte[] IdentityModel((string Name, int ElementType)[] tensors)
    {
        var graph = new Proto();
        foreach (var (name, _) in tensors)
        {
            graph.Message(1, new Proto().String(1, name).String(2, name + "_out").String(3, "id_" + name).String(4, "Identity"));
        }

        graph.String(2, "identities");
        foreach (var (name, type) in tensors)
        {
            graph.Message(11, ValueInfo(name, type));
        }

        foreach (var (name, type) in tensors)
        {
            graph.Message(12, ValueInfo(name + "_out", type));
        }

        return new Proto()
            .Varint(1, 8)
            .String(2, "mlplatform-tests")
            .Message(7, graph)
            .Message(8, new Proto().String(1, string.Empty).Varint(2, 13))
            .ToArray();
    }

    private static Proto ValueInfo(string name, int elementType)
    {
        var shape = new Proto().Message(1, new Proto().String(2, "N")).Message(1, new Proto().Varint(1, 2));
        var tensorType = new Proto().Varint(1, (ulong)elementType).Message(2, shape);
        return new Proto().String(1, name).Message(2, new Proto().Message(1, tensorType));
    }

    /// <summary>The protobuf wire format, as much of it as an ONNX graph of Identity nodes needs.</summary>
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

        public Proto Message(int field, Proto message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _buffer.ToArray();

        private Proto Bytes(int field, byte[] value)
        {
            Raw(((ulong)field << 3) | 2);
            Raw((ulong)value.Length);
            _buffer.Write(value);
            return this;
        }

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
