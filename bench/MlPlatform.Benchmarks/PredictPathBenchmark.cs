using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlPlatform.Predictions.Inference;
using MlPlatform.Predictions.Runtime;

namespace MlPlatform.Benchmarks;

/// <summary>
/// The V2 /infer request path without HTTP and without Run, on one thread: parse the body, check it
/// against the signature, write the answer. Time per request and bytes allocated per request (exact,
/// from the runtime's per-thread counter, so meaningful on a busy machine too), for the P1 model's
/// input (64 floats) and the P2 model's (10 floats).
/// </summary>
public static class PredictPathBenchmark
{
    public static void Run(int iterations)
    {
        foreach (var features in new[] { 10, 64 })
        {
            var row = Enumerable.Range(0, features).Select(i => (float)Math.Sin(i)).ToArray();
            var body = JsonSerializer.SerializeToUtf8Bytes(new
            {
                inputs = new[] { new { name = "x", shape = new[] { 1, features }, datatype = "FP32", data = row } },
            });
            var signature = new ModelSignature(
                [new TensorSpec("x", "FP32", [-1, features], TensorElementType.Float)],
                [new TensorSpec("y", "FP32", [-1, 1], TensorElementType.Float)]);
            TensorData[] outputs = [new TensorData("y", "FP32", [1, 1], new[] { 0.5f })];
            var buffer = new ArrayBufferWriter<byte>(4096);

            void Once()
            {
                var request = V2Codec.ParseInfer(body, 1 << 20);
                TensorBinding.Validate(signature, request.Inputs, rejectNonFinite: true);
                buffer.ResetWrittenCount();
                using var writer = new Utf8JsonWriter(buffer);
                V2Codec.WriteInferResponse(writer, "endpoint", "1", request.Id, outputs);
            }

            for (var i = 0; i < Math.Min(iterations, 20_000); i++)
            {
                Once();
            }

            var allocated = GC.GetAllocatedBytesForCurrentThread();
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < iterations; i++)
            {
                Once();
            }

            var elapsed = Stopwatch.GetElapsedTime(started);
            var bytes = (GC.GetAllocatedBytesForCurrentThread() - allocated) / (double)iterations;
            Console.WriteLine($"V2 path without HTTP and Run, {features} features: {elapsed.TotalMicroseconds * 1000 / iterations:N0} ns and {bytes:N0} B allocated per request ({iterations:N0} requests)");
        }
    }
}
