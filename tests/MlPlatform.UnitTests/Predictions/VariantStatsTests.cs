using System.Diagnostics;
using MlPlatform.Predictions.Inference;
using MlPlatform.Predictions.Runtime;

namespace MlPlatform.UnitTests.Predictions;

public sealed class VariantStatsTests
{
    [Fact]
    public void Given_a_batched_run_Then_every_request_is_charged_the_run_and_its_batch_size_counts_once()
    {
        var stats = new VariantStats();
        var second = Stopwatch.Frequency;
        stats.Executed(batchSize: 6, requests: 3, new RunTimings(second / 1000, second / 100, second / 1000));
        stats.Executed(batchSize: 1, requests: 1, new RunTimings(0, second / 100, 0));

        stats.ExecutionCount.ShouldBe(2);
        stats.InferenceCount.ShouldBe(7);
        stats.ComputeInfer.Count.ShouldBe(4);
        // 4 × 10 ms, in nanoseconds.
        stats.ComputeInfer.Nanoseconds.ShouldBeInRange(39_999_000, 40_001_000);
        stats.ComputeInput.Nanoseconds.ShouldBeInRange(2_999_000, 3_001_000);
        var batches = stats.Batches.ToDictionary(b => b.Key, b => b.Value.ComputeInfer.Count);
        batches.ShouldBe(new Dictionary<long, long> { [1] = 1, [6] = 1 });
        stats.Batches.Select(b => b.Key).ShouldBe([1L, 6L], "by batch size");
    }

    [Fact]
    public void Given_no_request_yet_Then_last_inference_is_zero_and_an_arrival_sets_it_to_now()
    {
        var stats = new VariantStats();
        stats.LastInference.ShouldBe(0);
        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        stats.Arrived(Stopwatch.GetTimestamp());
        stats.LastInference.ShouldBeInRange(before, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    [Theory]
    [InlineData("BOOL", "TYPE_BOOL")]
    [InlineData("UINT8", "TYPE_UINT8")]
    [InlineData("INT64", "TYPE_INT64")]
    [InlineData("FP16", "TYPE_FP16")]
    [InlineData("BF16", "TYPE_BF16")]
    [InlineData("FP32", "TYPE_FP32")]
    [InlineData("FP64", "TYPE_FP64")]
    [InlineData("BYTES", "TYPE_STRING")]
    public void Given_a_protocol_datatype_Then_the_config_names_it_as_Triton_does(string datatype, string triton) =>
        TritonExtensions.TritonType(datatype).ShouldBe(triton);
}
