using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>Triton's model configuration and statistics extensions, as tritonclient and perf_analyzer read them.</summary>
public sealed class TritonExtensionTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_plain_and_batching_endpoints_When_config_Then_Triton_types_dims_and_batching_describe_the_model(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        // A second model of four features: its variant's config differs from the first's.
        var wide = NewName("wide");
        await Json(await CreateModel(api.Maintainer, api.Project, wide), HttpStatusCode.Created);
        await Json(await UploadRaw(api.Maintainer, api.Project, wide, MlPlatform.Tests.Onnx.OnnxModelWriter.LogisticRegression([1f, 2f, 3f, 4f], 0f)), HttpStatusCode.Created);
        var plain = await Endpoint(api, name => new { name, variants = new[] { new { name = "a", model, version = 1, weight = 80 }, new { name = "b", model, version = 2, weight = 10 }, new { name = "w", model = wide, version = 1, weight = 10 } } });
        var batched = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 2 } }, batching = new { enabled = true, maxBatchSize = 16, maxDelayMs = 3 }, cache = new { enabled = true } });

        var config = await Json(await api.Viewer.GetAsync($"/v2/models/{plain}/config"), HttpStatusCode.OK);
        config.GetProperty("name").GetString().ShouldBe(plain);
        config.GetProperty("platform").GetString().ShouldBe("onnxruntime_onnx");
        config.GetProperty("backend").GetString().ShouldBe("onnxruntime");
        config.GetProperty("version_policy").GetProperty("specific").GetProperty("versions").EnumerateArray().Select(v => v.GetInt32()).ShouldBe([1, 2]);
        // No server-side batching: the dims are the whole shape, the batch dimension dynamic.
        config.GetProperty("max_batch_size").GetInt32().ShouldBe(0);
        config.TryGetProperty("dynamic_batching", out _).ShouldBeFalse();
        var input = config.GetProperty("input").EnumerateArray().Single();
        input.GetProperty("name").GetString().ShouldBe("x");
        input.GetProperty("data_type").GetString().ShouldBe("TYPE_FP32");
        input.GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([-1, 3]);
        var output = config.GetProperty("output").EnumerateArray().Single();
        output.GetProperty("name").GetString().ShouldBe("y");
        output.GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([-1, 1]);
        config.GetProperty("response_cache").GetProperty("enable").GetBoolean().ShouldBeFalse();

        // The batcher stacks along the first dimension: Triton's max_batch_size, dims without it.
        var batching = await Json(await api.Viewer.GetAsync($"/v2/models/{batched}/versions/2/config"), HttpStatusCode.OK);
        batching.GetProperty("max_batch_size").GetInt32().ShouldBe(16);
        batching.GetProperty("dynamic_batching").GetProperty("max_queue_delay_microseconds").GetInt64().ShouldBe(3000);
        batching.GetProperty("input")[0].GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([3]);
        batching.GetProperty("output")[0].GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([1]);
        batching.GetProperty("response_cache").GetProperty("enable").GetBoolean().ShouldBeTrue();

        // Without a version, metadata and config describe the same variant every time: the one with most traffic.
        for (var i = 0; i < 8; i++)
        {
            var metadata = await Json(await api.Viewer.GetAsync($"/v2/models/{plain}"), HttpStatusCode.OK);
            metadata.GetProperty("inputs")[0].GetProperty("shape").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([-1, 3]);
            (await Json(await api.Viewer.GetAsync($"/v2/models/{plain}/config"), HttpStatusCode.OK)).GetProperty("input")[0].GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([-1, 3]);
        }

        (await Json(await api.Viewer.GetAsync($"/v2/models/{plain}/versions/w/config"), HttpStatusCode.OK)).GetProperty("input")[0].GetProperty("dims").EnumerateArray().Select(d => d.GetInt64()).ShouldBe([-1, 4]);
        var server = await Json(await api.Viewer.GetAsync("/v2"), HttpStatusCode.OK);
        server.GetProperty("extensions").EnumerateArray().Select(e => e.GetString()).ShouldBe(["binary_tensor_data", "model_configuration", "statistics"], ignoreOrder: true);

        (await Error(await api.Viewer.GetAsync($"/v2/models/{plain}/versions/9/config"), HttpStatusCode.NotFound)).ShouldContain("9");
        await Error(await api.Outsider.GetAsync($"/v2/models/{plain}/config"), HttpStatusCode.NotFound);
        (await api.Anonymous.GetAsync($"/v2/models/{plain}/config")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_requests_When_stats_Then_counts_times_and_batch_sizes_match_what_was_sent(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } }, cache = new { enabled = true } });
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        await Json(await Infer(api.Viewer, endpoint, V2Body(Row)), HttpStatusCode.OK);
        await Json(await Infer(api.Viewer, endpoint, V2Body(Row, [1f, 2f, 3f], [0f, 0f, 1f])), HttpStatusCode.OK);
        // The same input again: answered from the cache, no model run.
        await Json(await Infer(api.Viewer, endpoint, V2Body(Row)), HttpStatusCode.OK);
        // Refused by the signature check: a failure, no run.
        await Error(await Infer(api.Viewer, endpoint, new { inputs = new[] { new { name = "x", shape = new[] { 1, 2 }, datatype = "FP32", data = new[] { 1f, 2f } } } }), HttpStatusCode.BadRequest);

        var all = await Json(await api.Viewer.GetAsync($"/v2/models/{endpoint}/stats"), HttpStatusCode.OK);
        var stats = all.GetProperty("model_stats").EnumerateArray().Single();
        stats.GetProperty("name").GetString().ShouldBe(endpoint);
        stats.GetProperty("version").GetString().ShouldBe("1");
        stats.GetProperty("last_inference").GetInt64().ShouldBeInRange(before, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
        // Without micro-batching (max_batch_size 0) a request is one inference whatever its rows; the cache hit ran none.
        stats.GetProperty("inference_count").GetInt64().ShouldBe(2);
        stats.GetProperty("execution_count").GetInt64().ShouldBe(2);
        var inference = stats.GetProperty("inference_stats");
        Count(inference, "success").ShouldBe(3);
        Count(inference, "fail").ShouldBe(1);
        Count(inference, "queue").ShouldBe(2);
        Count(inference, "compute_input").ShouldBe(2);
        Count(inference, "compute_infer").ShouldBe(2);
        Count(inference, "compute_output").ShouldBe(2);
        Count(inference, "cache_hit").ShouldBe(1);
        Count(inference, "cache_miss").ShouldBe(2);
        foreach (var timed in new[] { "success", "fail", "compute_infer", "cache_hit", "cache_miss" })
        {
            inference.GetProperty(timed).GetProperty("ns").GetInt64().ShouldBeGreaterThan(0, timed);
        }

        // A run takes longer than its own part of the request.
        inference.GetProperty("success").GetProperty("ns").GetInt64().ShouldBeGreaterThan(inference.GetProperty("compute_infer").GetProperty("ns").GetInt64());
        var batches = stats.GetProperty("batch_stats").EnumerateArray().ToDictionary(b => b.GetProperty("batch_size").GetInt32(), b => Count(b, "compute_infer"));
        batches.ShouldBe(new Dictionary<int, long> { [1] = 2 });

        // By version, and in the list of every endpoint the caller may see; not in an outsider's list.
        var one = await Json(await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/1/stats"), HttpStatusCode.OK);
        one.GetProperty("model_stats")[0].GetProperty("execution_count").GetInt64().ShouldBe(2);
        Names(await Json(await api.Viewer.GetAsync("/v2/models/stats"), HttpStatusCode.OK)).ShouldContain(endpoint);
        Names(await Json(await api.Outsider.GetAsync("/v2/models/stats"), HttpStatusCode.OK)).ShouldNotContain(endpoint);
        await Error(await api.Outsider.GetAsync($"/v2/models/{endpoint}/stats"), HttpStatusCode.NotFound);
        await Error(await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/7/stats"), HttpStatusCode.NotFound);
        (await api.Anonymous.GetAsync("/v2/models/stats")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_micro_batching_When_requests_share_runs_Then_stats_count_requests_rows_and_fewer_executions(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        // A long delay and a batch of exactly the requests sent: they are run together.
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } }, batching = new { enabled = true, maxBatchSize = 8, maxDelayMs = 1000 } });

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Infer(api.Viewer, endpoint, V2Body([i, 1f, -i]))));
        answers.ShouldAllBe(a => a.StatusCode == HttpStatusCode.OK);

        var stats = (await Json(await api.Viewer.GetAsync($"/v2/models/{endpoint}/stats"), HttpStatusCode.OK)).GetProperty("model_stats")[0];
        var inference = stats.GetProperty("inference_stats");
        Count(inference, "success").ShouldBe(8);
        Count(inference, "queue").ShouldBe(8);
        stats.GetProperty("inference_count").GetInt64().ShouldBe(8);
        var executions = stats.GetProperty("execution_count").GetInt64();
        executions.ShouldBeLessThan(8, "requests waiting together share a run");
        // Every request is charged the run it was part of; the batch sizes add up to the rows.
        Count(inference, "compute_infer").ShouldBe(8);
        var batches = stats.GetProperty("batch_stats").EnumerateArray().Select(b => (Size: b.GetProperty("batch_size").GetInt64(), Runs: Count(b, "compute_infer"))).ToList();
        batches.Sum(b => b.Runs).ShouldBe(executions);
        batches.Sum(b => b.Size * b.Runs).ShouldBe(8);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_weights_changed_Then_stats_of_the_variants_that_stay_continue(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var endpoint = await Endpoint(api, name => new { name, variants = new[] { new { name = "a", model, version = 1, weight = 100 }, new { name = "b", model, version = 2, weight = 0 } } });
        for (var i = 0; i < 3; i++)
        {
            await Json(await Infer(api.Viewer, endpoint, V2Body(Row)), HttpStatusCode.OK);
        }

        await Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/weights", new { weights = new { a = 0, b = 100 } }), HttpStatusCode.OK);
        // Until this host serves the new table, requests still reach a; then b.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (Header(await Infer(api.Viewer, endpoint, V2Body(Row)), "X-Variant") != "b")
        {
            DateTime.UtcNow.ShouldBeLessThan(deadline, "the weight change reaches the data plane");
            await Task.Delay(50);
        }

        var stats = (await Json(await api.Viewer.GetAsync($"/v2/models/{endpoint}/stats"), HttpStatusCode.OK)).GetProperty("model_stats").EnumerateArray()
            .ToDictionary(s => s.GetProperty("version").GetString()!, s => Count(s.GetProperty("inference_stats"), "success"));
        stats["1"].ShouldBeGreaterThanOrEqualTo(3, "a's counts from before the swap are kept");
        stats["2"].ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_an_endpoint_named_stats_Then_400_as_the_all_models_statistics_path_would_hide_it(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);

        var problem = await Problem(await Create(api.Maintainer, api.Project, new { name = "stats", variants = new[] { new { model, version = 1 } } }), HttpStatusCode.BadRequest);

        problem.GetRawText().ShouldContain("reserved");
    }

    private static long Count(JsonElement parent, string property) => parent.GetProperty(property).GetProperty("count").GetInt64();

    private static List<string> Names(JsonElement stats) =>
        [.. stats.GetProperty("model_stats").EnumerateArray().Select(s => s.GetProperty("name").GetString()!)];
}
