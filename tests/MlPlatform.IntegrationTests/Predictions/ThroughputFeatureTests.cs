using System.Net;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>The response cache and micro-batching answer like the plain path; a full queue answers 429 at once.</summary>
public sealed class ThroughputFeatureTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static float[] RowOf(int i) => [i * 0.1f, 1 - i * 0.05f, (i % 7) - 3];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_cache_and_batching_endpoints_Then_answers_equal_the_plain_endpoint(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var plain = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        var cached = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } }, cache = new { enabled = true, maxEntries = 100 } });
        var batched = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } }, batching = new { enabled = true, maxBatchSize = 16, maxDelayMs = 5 } });

        var requests = Enumerable.Range(0, 48).Select(i => i % 2 == 0 ? V2Body(RowOf(i)) : V2Body(RowOf(i), RowOf(i + 1))).ToList();
        var reference = new List<float[]>();
        foreach (var request in requests)
        {
            reference.Add(Output(await Json(await Infer(api.Viewer, plain, request), HttpStatusCode.OK)));
        }

        for (var round = 0; round < 2; round++)
        {
            for (var i = 0; i < requests.Count; i++)
            {
                var response = await Infer(api.Viewer, cached, requests[i]);
                Output(await Json(response, HttpStatusCode.OK)).ShouldBe(reference[i]);
                Header(response, "X-Cache").ShouldBe(round == 0 ? "miss" : "hit");
            }
        }

        // Concurrent callers so that requests really share batches.
        var answers = await Task.WhenAll(requests.Select(r => Task.Run(async () => Output(await Json(await Infer(api.Viewer, batched, r), HttpStatusCode.OK)))));
        for (var i = 0; i < requests.Count; i++)
        {
            answers[i].ShouldBe(reference[i]);
            for (var j = 0; j < reference[i].Length; j++)
            {
                reference[i][j].ShouldBe(Expected(1, RowOf(i + j)), 1e-6f);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_full_batching_queue_Then_next_request_gets_429_at_once_and_queued_one_is_answered(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        // One request may wait; the batch waits up to a second (the most allowed) for company, so the queue is full meanwhile.
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } }, batching = new { enabled = true, maxBatchSize = 64, maxDelayMs = 1000 }, maxQueue = 1 });
        // Routed and loaded first, so the first request surely reaches the queue before the second.
        (await api.Viewer.GetAsync($"/v2/models/{endpoint}/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var first = Infer(api.Viewer, endpoint, V2Body(RowOf(1)));
        await Task.Delay(200);
        var second = await Infer(api.Viewer, endpoint, V2Body(RowOf(2)));

        (await Error(second, HttpStatusCode.TooManyRequests)).ShouldContain("queue");
        second.Headers.RetryAfter.ShouldNotBeNull();
        Output(await Json(await first, HttpStatusCode.OK))[0].ShouldBe(Expected(1, RowOf(1)), 1e-6f);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_serving_host_Then_metrics_show_requests_batches_cache_and_loaded_models(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } }, cache = new { enabled = true } });
        await Json(await Infer(api.Viewer, endpoint, V2Body(RowOf(1))), HttpStatusCode.OK);
        await Json(await Infer(api.Viewer, endpoint, V2Body(RowOf(1))), HttpStatusCode.OK);

        var metrics = await (await api.Anonymous.GetAsync("/metrics")).Content.ReadAsStringAsync();

        metrics.ShouldContain("mlplatform_predictions_requests_total");
        metrics.ShouldContain("mlplatform_predictions_cache_hits_total");
        metrics.ShouldContain("mlplatform_predictions_compute_duration_seconds");
        metrics.ShouldContain("mlplatform_predictions_models_loaded");
        metrics.ShouldContain("mlplatform_predictions_queue_duration_seconds");
        // Buckets in seconds, fine enough for sub-millisecond runs (the default ones start at 5 s).
        metrics.ShouldContain("mlplatform_predictions_compute_duration_seconds_bucket{otel_scope_name=\"MlPlatform.Predictions\",endpoint=\"" + endpoint + "\",variant=\"" + model + "\",le=\"0.001\"}");
        // Loaded models and their size per endpoint and variant.
        metrics.ShouldContain("mlplatform_predictions_variant_model_loaded");
        metrics.ShouldContain("mlplatform_predictions_variant_model_bytes");
        metrics.ShouldContain($"endpoint=\"{endpoint}\"");
    }
}
