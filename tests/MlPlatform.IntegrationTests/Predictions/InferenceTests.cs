using System.Buffers.Binary;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>The V2 protocol and the /predict API against a model the test wrote, compared with the test's own arithmetic.</summary>
public sealed class InferenceTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[][] Rows = [[0.3f, -0.6f, 0.1f], [1f, 2f, -3f]];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_endpoint_When_V2_infer_Then_outputs_equal_reference_and_headers_name_model_version_and_variant(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { name = "main", model, version = 2 } } });

        var response = await Infer(api.Viewer, endpoint, new
        {
            id = "req-1",
            inputs = new[] { new { name = "x", shape = new[] { 2, 3 }, datatype = "FP32", data = Rows } },
            parameters = new { priority = 1, client = "tests" },
            outputs = new[] { new { name = "y", parameters = new { binary_data = false } } },
        });

        var body = await Json(response, HttpStatusCode.OK);
        body.GetProperty("model_name").GetString().ShouldBe(endpoint);
        body.GetProperty("model_version").GetString().ShouldBe("2");
        body.GetProperty("id").GetString().ShouldBe("req-1");
        var y = body.GetProperty("outputs")[0];
        y.GetProperty("datatype").GetString().ShouldBe("FP32");
        y.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ShouldBe([2, 1]);
        var data = Output(body);
        data[0].ShouldBe(Expected(2, Rows[0]), 1e-6f);
        data[1].ShouldBe(Expected(2, Rows[1]), 1e-6f);
        Header(response, "X-Model-Name").ShouldBe(model);
        Header(response, "X-Model-Version").ShouldBe("2");
        Header(response, "X-Variant").ShouldBe("main");

        // Flat row-major data is the same tensor.
        var flat = await Json(await Infer(api.Viewer, endpoint, new { inputs = new[] { new { name = "x", shape = new[] { 2, 3 }, datatype = "FP32", data = Rows.SelectMany(r => r).ToArray() } } }), HttpStatusCode.OK);
        Output(flat).ShouldBe(data);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_rows_sent_as_binary_tensor_data_Then_outputs_equal_reference_in_JSON_or_in_binary(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await SharedEndpoint(api);
        var rows = Rows.SelectMany(r => r).ToArray();
        var bytes = new byte[rows.Length * 4];
        for (var i = 0; i < rows.Length; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), rows[i]);
        }

        const string Inputs = """{"name":"x","shape":[2,3],"datatype":"FP32","parameters":{"binary_data_size":24}}""";

        var asJson = await Json(await InferBinary(api.Viewer, endpoint, $$"""{"id":"b1","inputs":[{{Inputs}}]}""", bytes), HttpStatusCode.OK);
        asJson.GetProperty("id").GetString().ShouldBe("b1");
        Output(asJson)[0].ShouldBe(Expected(1, Rows[0]), 1e-6f);
        Output(asJson)[1].ShouldBe(Expected(1, Rows[1]), 1e-6f);

        var (json, binary) = await BinaryAnswer(await InferBinary(api.Viewer, endpoint, $$$"""{"inputs":[{{{Inputs}}}],"outputs":[{"name":"y","parameters":{"binary_data":true}}]}""", bytes, "application/octet-stream"));
        json.GetProperty("outputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ShouldBe([2, 1]);
        var y = binary["y"];
        y.Length.ShouldBe(8);
        BinaryPrimitives.ReadSingleLittleEndian(y).ShouldBe(Expected(1, Rows[0]), 1e-6f);
        BinaryPrimitives.ReadSingleLittleEndian(y.AsSpan(4)).ShouldBe(Expected(1, Rows[1]), 1e-6f);

        // Python's urllib labels any POST body a form; the extension's header says what the body is.
        var fromUrllib = await Json(await InferBinary(api.Viewer, endpoint, $$"""{"inputs":[{{Inputs}}]}""", bytes, "application/x-www-form-urlencoded"), HttpStatusCode.OK);
        Output(fromUrllib).ShouldBe(Output(asJson));

        // The server says it speaks the extension, as V2 clients check.
        var server = await Json(await api.Anonymous.GetAsync("/v2"), HttpStatusCode.OK);
        server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()).ShouldContain("binary_tensor_data");

        // Bytes the JSON does not account for, and a header past the body, are refused; so is a caller without a token.
        (await Error(await InferBinary(api.Viewer, endpoint, $$"""{"inputs":[{{Inputs}}]}""", [.. bytes, 0, 0, 0, 0]), HttpStatusCode.BadRequest)).ShouldContain("4 bytes after the JSON");
        (await Error(await InferBinary(api.Viewer, endpoint, $$"""{"inputs":[{{Inputs}}]}""", bytes, jsonLength: "100000"), HttpStatusCode.BadRequest)).ShouldContain("Inference-Header-Content-Length");
        (await InferBinary(api.Anonymous, endpoint, $$"""{"inputs":[{{Inputs}}]}""", bytes)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);

        // Error text reads as written: quotes are not escaped to \u0027.
        var raw = await (await InferBinary(api.Viewer, endpoint, $$"""{"inputs":[{{Inputs}}]}""", bytes[..^4])).Content.ReadAsStringAsync();
        raw.ShouldContain("input 'x': binary_data_size is 24 bytes");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bodies_sent_compressed_Then_V2_and_predict_read_them_a_body_expanding_past_the_limit_is_413_and_large_answers_are_compressed_when_accepted(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await SharedEndpoint(api);

        var gzip = await Json(await api.Viewer.SendAsync(Compressed($"/v2/models/{endpoint}/infer", JsonSerializer.SerializeToUtf8Bytes(V2Body(Rows[0])), "gzip")), HttpStatusCode.OK);
        Output(gzip)[0].ShouldBe(Expected(1, Rows[0]), 1e-6f);

        // tritonclient's request compression: the binary request compressed whole, its header naming the uncompressed JSON.
        const string Header = """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}""";
        var binary = new byte[12];
        for (var i = 0; i < 3; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(binary.AsSpan(i * 4), Rows[0][i]);
        }

        var deflate = Compressed($"/v2/models/{endpoint}/infer", [.. System.Text.Encoding.UTF8.GetBytes(Header), .. binary], "deflate");
        deflate.Headers.Add("Inference-Header-Content-Length", System.Text.Encoding.UTF8.GetByteCount(Header).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Output(await Json(await api.Viewer.SendAsync(deflate), HttpStatusCode.OK))[0].ShouldBe(Expected(1, Rows[0]), 1e-6f);

        var predict = await Json(await api.Viewer.SendAsync(Compressed($"/api/v1/endpoints/{endpoint}/predict", JsonSerializer.SerializeToUtf8Bytes(new { instances = new[] { Rows[1] } }), "gzip")), HttpStatusCode.OK);
        predict.GetProperty("predictions")[0].GetProperty("y").GetSingle().ShouldBe(Expected(1, Rows[1]), 1e-6f);

        // 50 KB of JSON whitespace around a valid request compresses to a few hundred bytes and expands past the 32 KB limit.
        var padded = System.Text.Encoding.UTF8.GetBytes(new string(' ', 50_000) + JsonSerializer.Serialize(V2Body(Rows[0])));
        var bomb = Compressed($"/v2/models/{endpoint}/infer", padded, "gzip");
        (await bomb.Content!.ReadAsByteArrayAsync()).Length.ShouldBeLessThan(1_000);
        await Error(await api.Viewer.SendAsync(bomb), HttpStatusCode.RequestEntityTooLarge);
        await Error(await api.Viewer.SendAsync(Compressed($"/v2/models/{endpoint}/infer", JsonSerializer.SerializeToUtf8Bytes(V2Body(Rows[0])), "gzip", claimed: "compress")), HttpStatusCode.UnsupportedMediaType);

        // Answers of 1 KB or more go back compressed to a caller that accepts it, the binary extension's header still naming the uncompressed JSON.
        var many = Enumerable.Range(0, 400).Select(i => new[] { i * 0.01f, -i * 0.02f, 0.5f }).ToArray();
        var manyBytes = new byte[many.Length * 12];
        for (var i = 0; i < many.Length * 3; i++)
        {
            BinaryPrimitives.WriteSingleLittleEndian(manyBytes.AsSpan(i * 4), many[i / 3][i % 3]);
        }

        var header = $$$"""{"inputs":[{"name":"x","shape":[{{{many.Length}}},3],"datatype":"FP32","parameters":{"binary_data_size":{{{manyBytes.Length}}}}}],"parameters":{"binary_data_output":true}}""";
        var large = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{endpoint}/infer") { Content = new ByteArrayContent([.. System.Text.Encoding.UTF8.GetBytes(header), .. manyBytes]) };
        large.Headers.Add("Inference-Header-Content-Length", System.Text.Encoding.UTF8.GetByteCount(header).ToString(System.Globalization.CultureInfo.InvariantCulture));
        large.Headers.AcceptEncoding.ParseAdd("gzip");
        var answer = await api.Viewer.SendAsync(large);
        answer.StatusCode.ShouldBe(HttpStatusCode.OK);
        answer.Content.Headers.ContentEncoding.ShouldBe(["gzip"]);
        using var expanded = new MemoryStream();
        await using (var gunzip = new System.IO.Compression.GZipStream(await answer.Content.ReadAsStreamAsync(), System.IO.Compression.CompressionMode.Decompress))
        {
            await gunzip.CopyToAsync(expanded);
        }

        var all = expanded.ToArray();
        var jsonLength = int.Parse(answer.Headers.GetValues("Inference-Header-Content-Length").Single(), System.Globalization.CultureInfo.InvariantCulture);
        using (var json = JsonDocument.Parse(all.AsMemory(0, jsonLength)))
        {
            json.RootElement.GetProperty("outputs")[0].GetProperty("parameters").GetProperty("binary_data_size").GetInt32().ShouldBe(many.Length * 4);
        }

        all.Length.ShouldBe(jsonLength + (many.Length * 4));
        for (var i = 0; i < many.Length; i++)
        {
            BinaryPrimitives.ReadSingleLittleEndian(all.AsSpan(jsonLength + (i * 4))).ShouldBe(Expected(1, many[i]), 1e-6f);
        }
    }

    private static HttpRequestMessage Compressed(string path, byte[] body, string encoding, string? claimed = null)
    {
        using var output = new MemoryStream();
        using (Stream compressor = encoding == "gzip" ? new System.IO.Compression.GZipStream(output, System.IO.Compression.CompressionLevel.Fastest) : new System.IO.Compression.ZLibStream(output, System.IO.Compression.CompressionLevel.Fastest))
        {
            compressor.Write(body);
        }

        var content = new ByteArrayContent(output.ToArray());
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        content.Headers.ContentEncoding.Add(claimed ?? encoding);
        return new HttpRequestMessage(HttpMethod.Post, path) { Content = content };
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_endpoint_Then_V2_health_metadata_and_ready_answer_like_the_protocol(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } } });

        (await api.Anonymous.GetAsync("/v2/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.Anonymous.GetAsync("/v2/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var server = await Json(await api.Anonymous.GetAsync("/v2"), HttpStatusCode.OK);
        server.GetProperty("name").GetString().ShouldBe("mlplatform");
        server.GetProperty("version").GetString().ShouldNotBeNullOrEmpty();
        server.GetProperty("extensions").ValueKind.ShouldBe(JsonValueKind.Array);
        var metadata = await Json(await api.Viewer.GetAsync($"/v2/models/{endpoint}"), HttpStatusCode.OK);
        metadata.GetProperty("name").GetString().ShouldBe(endpoint);
        metadata.GetProperty("platform").GetString().ShouldBe("onnxruntime_onnx");
        metadata.GetProperty("versions").EnumerateArray().Select(v => v.GetString()).ShouldBe(["1"]);
        var input = metadata.GetProperty("inputs")[0];
        input.GetProperty("name").GetString().ShouldBe("x");
        input.GetProperty("datatype").GetString().ShouldBe("FP32");
        input.GetProperty("shape").EnumerateArray().Select(d => d.GetInt32()).ShouldBe([-1, 3]);
        metadata.GetProperty("outputs")[0].GetProperty("name").GetString().ShouldBe("y");
        (await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.Viewer.GetAsync($"/v2/models/{endpoint}/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/1/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Error(await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/7"), HttpStatusCode.NotFound);
        await Error(await api.Viewer.GetAsync("/v2/models/no-such-endpoint"), HttpStatusCode.NotFound);
        (await api.Anonymous.GetAsync($"/v2/models/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_instances_with_named_features_When_predict_Then_predictions_equal_reference(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } } });

        var response = await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = new object[] { new { x = Rows[0] }, Rows[1] } });

        var body = await Json(response, HttpStatusCode.OK);
        body.GetProperty("version").GetInt32().ShouldBe(1);
        var predictions = body.GetProperty("predictions").EnumerateArray().Select(p => p.GetProperty("y").GetSingle()).ToList();
        predictions[0].ShouldBe(Expected(1, Rows[0]), 1e-6f);
        predictions[1].ShouldBe(Expected(1, Rows[1]), 1e-6f);
        Header(response, "X-Model-Version").ShouldBe("1");

        await Problem(await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = new[] { new { x = new[] { 1, 2 } } } }), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = new[] { new { age = 3 } } }), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = new[] { new { x = new object[] { 1, "a", 2 } } } }), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.PostAsJsonAsync("/api/v1/endpoints/nope/predict", new { instances = new[] { Rows[0] } }), HttpStatusCode.NotFound);
    }

    public static TheoryData<string, string, string> MalformedRequests()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var provider in new[] { "Sqlite", "PostgreSql" })
        {
            data.Add(provider, "wrong shape", """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}""");
            data.Add(provider, "wrong rank", """{"inputs":[{"name":"x","shape":[3],"datatype":"FP32","data":[1,2,3]}]}""");
            data.Add(provider, "wrong datatype", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"INT64","data":[1,2,3]}]}""");
            data.Add(provider, "datatype not the model's", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP16","data":[1,2,3]}]}""");
            data.Add(provider, "unknown datatype", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FLOAT","data":[1,2,3]}]}""");
            data.Add(provider, "binary data without its header", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","parameters":{"binary_data_size":12}}]}""");
            data.Add(provider, "binary output flag not a boolean", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{"name":"y","parameters":{"binary_data":"yes"}}]}""");
            data.Add(provider, "output without name", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{}]}""");
            data.Add(provider, "parameters not an object", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"parameters":[1]}""");
            data.Add(provider, "too few elements", """{"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[1,2,3]}]}""");
            data.Add(provider, "too many elements", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3,4]}]}""");
            data.Add(provider, "missing input", """{"inputs":[{"name":"z","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""");
            data.Add(provider, "extra input", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]},{"name":"w","shape":[1],"datatype":"FP32","data":[1]}]}""");
            data.Add(provider, "duplicate input", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]},{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""");
            data.Add(provider, "non-numeric data", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,"two",3]}]}""");
            data.Add(provider, "NaN", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,"NaN",3]}]}""");
            data.Add(provider, "infinity", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,"Infinity",3]}]}""");
            data.Add(provider, "no inputs", """{"inputs":[]}""");
            data.Add(provider, "no data", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32"}]}""");
            data.Add(provider, "negative dimension", """{"inputs":[{"name":"x","shape":[-1,3],"datatype":"FP32","data":[1,2,3]}]}""");
            data.Add(provider, "unknown output", """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"outputs":[{"name":"nope"}]}""");
            data.Add(provider, "not JSON", """{"inputs":[{"name":""");
            data.Add(provider, "not an object", """[1,2,3]""");
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(MalformedRequests))]
    public async Task Given_malformed_V2_request_Then_400_with_error_body_and_endpoint_keeps_serving(string provider, string problem, string body)
    {
        var api = await hosts.For(Enum.Parse<DatabaseProvider>(provider));
        var endpoint = await SharedEndpoint(api);

        var message = await Error(await Infer(api.Viewer, endpoint, body), HttpStatusCode.BadRequest);

        message.ShouldNotBeNullOrWhiteSpace(problem);
        var ok = await Json(await Infer(api.Viewer, endpoint, V2Body(Rows[0])), HttpStatusCode.OK);
        Output(ok)[0].ShouldBe(Expected(1, Rows[0]), 1e-6f);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_byte_that_is_not_UTF8_in_a_string_Then_400_on_V2_binary_V2_and_predict_and_the_endpoint_keeps_serving(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await SharedEndpoint(api);

        // 0xA1 alone is a continuation byte: no UTF-8 text has it there. Parsers check the JSON's
        // structure, not its strings' bytes, so it used to reach the datatype's decoding as a 500.
        static byte[] Broken(string json) => [.. Encoding.UTF8.GetBytes(json).Select(b => b == (byte)'~' ? (byte)0xA1 : b)];
        async Task<HttpResponseMessage> Send(string path, byte[] body)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            return await api.Viewer.PostAsync(path, content);
        }

        foreach (var json in new[]
        {
            """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP~32","data":[1,2,3]}]}""",
            """{"id":"r~","inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""",
            """{"inputs":[{"name":"x~","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""",
        })
        {
            (await Error(await Send($"/v2/models/{endpoint}/infer", Broken(json)), HttpStatusCode.BadRequest)).ShouldContain("UTF-8");
        }

        var header = Broken("""{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP~32","parameters":{"binary_data_size":12}}]}""");
        var binary = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{endpoint}/infer") { Content = new ByteArrayContent([.. header, .. new byte[12]]) };
        binary.Headers.Add("Inference-Header-Content-Length", header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        (await Error(await api.Viewer.SendAsync(binary), HttpStatusCode.BadRequest)).ShouldContain("UTF-8");
        var predict = await Problem(await Send($"/api/v1/endpoints/{endpoint}/predict", Broken("""{"instances":[{"x~":[1,2,3]}]}""")), HttpStatusCode.BadRequest);
        predict.GetProperty("detail").GetString().ShouldNotBeNull().ShouldContain("UTF-8");

        // Valid UTF-8 and valid JSON, yet no text: an escaped half of a surrogate pair, in a string the reader decodes.
        foreach (var json in new[]
        {
            """{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32\ud800","data":[1,2,3]}]}""",
            """{"id":"\udc00","inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""",
        })
        {
            (await Error(await Send($"/v2/models/{endpoint}/infer", Encoding.UTF8.GetBytes(json)), HttpStatusCode.BadRequest)).ShouldContain("Unicode");
        }

        var surrogate = await Problem(await Send($"/api/v1/endpoints/{endpoint}/predict", """{"instances":[{"x\ud800":[1,2,3]}]}"""u8.ToArray()), HttpStatusCode.BadRequest);
        surrogate.GetProperty("detail").GetString().ShouldNotBeNull().ShouldContain("Unicode");

        var ok = await Json(await Infer(api.Viewer, endpoint, V2Body(Rows[0])), HttpStatusCode.OK);
        Output(ok)[0].ShouldBe(Expected(1, Rows[0]), 1e-6f);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_body_over_limit_or_unknown_endpoint_or_outsider_Then_413_404_404_with_error_body(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await SharedEndpoint(api);
        var big = Enumerable.Range(0, 12_000).Select(i => new[] { 1f, 2f, 3f }).ToArray();

        var tooLarge = await Infer(api.Viewer, endpoint, V2Body(big));
        tooLarge.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);

        await Error(await Infer(api.Viewer, "no-such-endpoint", V2Body(Rows[0])), HttpStatusCode.NotFound);
        // Another project's member sees the endpoint as missing.
        await Error(await Infer(api.Outsider, endpoint, V2Body(Rows[0])), HttpStatusCode.NotFound);
        (await Infer(api.Anonymous, endpoint, V2Body(Rows[0]))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var wrongType = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{endpoint}/infer") { Content = new StringContent("x", System.Text.Encoding.UTF8, "text/plain") };
        await Error(await api.Viewer.SendAsync(wrongType), HttpStatusCode.UnsupportedMediaType);
    }

    private static readonly Dictionary<string, string> Shared = [];

    private static async Task<string> SharedEndpoint(Infrastructure.WorkflowTestAccounts api)
    {
        var key = api.Project;
        lock (Shared)
        {
            if (Shared.TryGetValue(key, out var existing))
            {
                return existing;
            }
        }

        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } } });
        lock (Shared)
        {
            Shared.TryAdd(key, endpoint);
            return Shared[key];
        }
    }
}
