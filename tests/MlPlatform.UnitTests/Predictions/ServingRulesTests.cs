using System.Text;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlPlatform.Predictions.Inference;
using MlPlatform.Predictions.Runtime;
using MlPlatform.Predictions.Steps;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UnitTests.Predictions;

public sealed class ServingRulesTests
{
    private static readonly ModelSignature Signature = new(
        [new TensorSpec("x", "FP32", [-1, 3], TensorElementType.Float)],
        [new TensorSpec("y", "FP32", [-1, 1], TensorElementType.Float)]);

    private static TensorData X(long[] shape, params float[] data) => new("x", "FP32", shape, data);

    [Fact]
    public void Given_tensor_matching_signature_Then_validation_passes_and_free_first_dimension_allows_batching()
    {
        TensorBinding.Validate(Signature, [X([2, 3], 1, 2, 3, 4, 5, 6)], rejectNonFinite: true);
        Signature.BatchFirst.ShouldBeTrue();
    }

    [Theory]
    [InlineData("shape")]
    [InlineData("count")]
    [InlineData("nan")]
    [InlineData("name")]
    [InlineData("datatype")]
    public void Given_mismatching_tensor_Then_400_names_the_problem(string problem)
    {
        TensorData input = problem switch
        {
            "shape" => X([1, 4], 1, 2, 3, 4),
            "count" => X([2, 3], 1, 2, 3),
            "nan" => X([1, 3], 1, float.NaN, 3),
            "name" => new TensorData("z", "FP32", [1, 3], new float[] { 1, 2, 3 }),
            _ => new TensorData("x", "INT64", [1, 3], new long[] { 1, 2, 3 }),
        };

        var error = Should.Throw<BadRequestException>(() => TensorBinding.Validate(Signature, [input], rejectNonFinite: true));

        error.Message.ShouldContain(problem switch
        {
            "shape" => "dimension 1",
            "count" => "needs 6",
            "nan" => "NaN",
            "name" => "Unknown input 'z'",
            _ => "expects FP32",
        });
    }

    [Fact]
    public void Given_nested_V2_data_Then_it_flattens_row_major_and_request_parameters_are_read()
    {
        var body = Encoding.UTF8.GetBytes("""{"id":"a","parameters":{"variant":"b","request_key":"k","cache":false},"inputs":[{"name":"x","shape":[2,3],"datatype":"FP32","data":[[1,2,3],[4,5,6]]}],"outputs":[{"name":"y"}]}""");

        var request = V2Codec.ParseInfer(body, 1_000);

        request.Id.ShouldBe("a");
        request.Variant.ShouldBe("b");
        request.RequestKey.ShouldBe("k");
        request.UseCache.ShouldBeFalse();
        request.Outputs.ShouldBe(["y"]);
        ((float[])request.Inputs[0].Data).ShouldBe([1f, 2, 3, 4, 5, 6]);
    }

    [Fact]
    public void Given_batch_of_requests_Then_concat_and_slice_give_each_its_rows_back()
    {
        var a = X([1, 3], 1, 2, 3);
        var b = X([2, 3], 4, 5, 6, 7, 8, 9);

        var all = TensorBinding.Concat("x", [a, b]);

        all.Shape.ShouldBe([3L, 3]);
        ((float[])TensorBinding.Slice(all, 1, 2).Data).ShouldBe((float[])b.Data);
        ((float[])TensorBinding.Slice(all, 0, 1).Data).ShouldBe((float[])a.Data);
    }

    [Fact]
    public void Given_request_keys_Then_hash_is_stable_and_spreads_over_the_buckets()
    {
        EndpointRuntime.StableHash("customer-1").ShouldBe(EndpointRuntime.StableHash("customer-1"));
        var buckets = Enumerable.Range(0, 10_000).Select(i => EndpointRuntime.StableHash($"key-{i}") % 100).GroupBy(b => b).ToList();
        buckets.Count.ShouldBe(100);
        buckets.Max(g => g.Count()).ShouldBeLessThan(200);
    }

    [Fact]
    public void Given_new_variant_weight_Then_others_shrink_in_proportion_to_fill_100()
    {
        var weights = ModelDeployStep.Rebalance([("a", 60), ("b", 40)], 20);

        weights["a"].ShouldBe(48);
        weights["b"].ShouldBe(32);
        (weights.Values.Sum() + 20).ShouldBe(100);
    }

    [Fact]
    public void Given_full_response_cache_Then_it_stays_within_its_entry_bound_and_answers_hits()
    {
        var cache = new ResponseCache(maxEntries: 10, maxBytes: 1 << 20);
        for (var i = 0; i < 100; i++)
        {
            cache.Add(ResponseCache.KeyOf("sha", [X([1, 3], i, 0, 0)]), [new TensorData("y", "FP32", [1, 1], new float[] { i })]);
        }

        cache.Count.ShouldBeLessThanOrEqualTo(10);
        cache.Add(ResponseCache.KeyOf("sha", [X([1, 3], 7, 7, 7)]), [new TensorData("y", "FP32", [1, 1], new float[] { 42 })]);
        cache.TryGet(ResponseCache.KeyOf("sha", [X([1, 3], 7, 7, 7)]), out var hit).ShouldBeTrue();
        ((float[])hit[0].Data)[0].ShouldBe(42);
        cache.TryGet(ResponseCache.KeyOf("other-model", [X([1, 3], 7, 7, 7)]), out _).ShouldBeFalse();
    }

    [Fact]
    public void Given_shadow_and_served_outputs_Then_difference_is_the_largest_absolute_gap()
    {
        var served = new TensorData[] { new("y", "FP32", [2, 1], new float[] { 0.5f, 0.25f }) };
        var shadow = new TensorData[] { new("y", "FP32", [2, 1], new float[] { 0.75f, 0.2f }) };

        InferenceEngine.Difference(served, shadow).ShouldBe(0.25, 1e-6);
    }
}
