using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Runtime;

/// <summary>A model that failed while running: the request gets a clear error; the endpoint stays up.</summary>
/// <remarks>
/// 422: the input passed every check against the signature, yet the model could not compute on it
/// (a Reshape or Gather the data does not fit); the request, not the server, has to change.
/// </remarks>
public sealed class ModelExecutionException(string detail, Exception? inner = null) : PlatformException("Model execution failed", detail, inner)
{
    public override int StatusCode => 422;
}

/// <summary>One ONNX Runtime Run with managed tensors in and out.</summary>
public static class InferenceRunner
{
    private static readonly RunOptions Options = new();

    public static TensorData[] Run(LoadedModel model, IReadOnlyList<TensorData> inputs, IReadOnlyList<string>? outputNames) =>
        Run(model, inputs, outputNames, out _);

    /// <param name="timings">Where the run's time went (tensors in, Run, tensors out), for the variant's statistics.</param>
    public static TensorData[] Run(LoadedModel model, IReadOnlyList<TensorData> inputs, IReadOnlyList<string>? outputNames, out RunTimings timings)
    {
        var started = Stopwatch.GetTimestamp();
        var session = model.Session;
        var names = outputNames ?? model.Signature.OutputNames;
        var values = new OrtValue[inputs.Count];
        var inputNames = new string[inputs.Count];
        try
        {
            for (var i = 0; i < inputs.Count; i++)
            {
                values[i] = TensorBinding.ToOrtValue(inputs[i]);
                inputNames[i] = inputs[i].Name;
            }

            var running = Stopwatch.GetTimestamp();
            using var results = session.Run(Options, inputNames, values, names);
            var ran = Stopwatch.GetTimestamp();
            var outputs = new TensorData[names.Count];
            var n = 0;
            var index = 0;
            foreach (var result in results)
            {
                var tensor = TensorBinding.FromOrtValue(names[index++], result);
                if (tensor is not null)
                {
                    outputs[n++] = tensor;
                }
            }

            timings = new RunTimings(running - started, ran - running, Stopwatch.GetTimestamp() - ran);
            return n == outputs.Length ? outputs : outputs[..n];
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelExecutionException($"The model failed on this input: {ex.Message.Split('\n')[0]}", ex);
        }
        finally
        {
            foreach (var v in values)
            {
                v?.Dispose();
            }
        }
    }
}

/// <summary>What one inference answered and who answered it.</summary>
public sealed record InferenceResult(EndpointRuntime Endpoint, VariantRuntime Variant, IReadOnlyList<TensorData> Outputs, bool CacheHit);

/// <summary>
/// The data plane after parsing: choose the variant, check the inputs against its signature, answer
/// from the cache or run (through the micro-batcher or directly, within the endpoint's bounded
/// queue), then send a copy to the shadow without waiting for it.
/// </summary>
public sealed partial class InferenceEngine(PredictionsSettings settings, ILogger<InferenceEngine> logger)
{
    private const int MaxShadowsInFlight = 64;
    private int _shadowsInFlight;

    public async Task<InferenceResult> InferAsync(
        EndpointRuntime endpoint,
        VariantRuntime variant,
        IReadOnlyList<TensorData> inputs,
        IReadOnlyList<string>? outputs,
        bool useCache,
        CancellationToken cancellationToken)
    {
        var arrived = Stopwatch.GetTimestamp();
        var stats = variant.Stats;
        stats.Arrived(arrived);
        var tags = new TagList { { "endpoint", endpoint.Name }, { "variant", variant.Name } };
        var failed = true;
        try
        {
            var signature = variant.Signature;
            TensorBinding.Validate(signature, inputs, settings.RejectNonFinite);
            if (outputs is not null)
            {
                foreach (var name in outputs)
                {
                    if (!signature.Outputs.Any(o => o.Name == name))
                    {
                        throw new BadRequestException($"Unknown output '{name}'; the model's outputs are: {string.Join(", ", signature.Outputs.Select(o => o.Name))}.");
                    }
                }
            }

            TensorData[] all;
            var hit = false;
            CacheKey? key = null;
            if (endpoint.Cache is { } cache && useCache)
            {
                var looking = Stopwatch.GetTimestamp();
                key = ResponseCache.KeyOf(variant.File.Sha256, inputs);
                if (cache.TryGet(key, out all!))
                {
                    hit = true;
                    stats.CacheHit.Add(Stopwatch.GetTimestamp() - looking);
                    PredictionMetrics.CacheHits.Add(1, tags);
                }
                else
                {
                    var lookup = Stopwatch.GetTimestamp() - looking;
                    PredictionMetrics.CacheMisses.Add(1, tags);
                    all = await ComputeAsync(endpoint, variant, inputs, tags, cancellationToken);
                    var inserting = Stopwatch.GetTimestamp();
                    cache.Add(key, all);
                    // A miss costs the look-up and the insert, as Triton counts it; not the run between them.
                    stats.CacheMiss.Add(lookup + Stopwatch.GetTimestamp() - inserting);
                }
            }
            else
            {
                all = await ComputeAsync(endpoint, variant, inputs, tags, cancellationToken);
            }

            if (endpoint.Shadow is { } shadow && shadow != variant)
            {
                StartShadow(endpoint, shadow, inputs, all);
            }

            IReadOnlyList<TensorData> selected = outputs is null ? all : outputs.Select(n => all.First(o => o.Name == n)).ToList();
            failed = false;
            return new InferenceResult(endpoint, variant, selected, hit);
        }
        catch (Exception ex)
        {
            var reason = ex switch
            {
                BadRequestException => "invalid",
                TooManyRequestsException => "rejected",
                ModelExecutionException => "model",
                OperationCanceledException => "cancelled",
                _ => "internal",
            };
            tags.Add("reason", reason);
            PredictionMetrics.Errors.Add(1, tags);
            if (ex is ModelExecutionException)
            {
                LogModelFailed(logger, endpoint.Name, variant.Name, ex.Message);
            }

            throw;
        }
        finally
        {
            (failed ? stats.Fail : stats.Success).Add(Stopwatch.GetTimestamp() - arrived);
            tags.Add("outcome", failed ? "error" : "ok");
            PredictionMetrics.Requests.Add(1, tags);
        }
    }

    private static async Task<TensorData[]> ComputeAsync(EndpointRuntime endpoint, VariantRuntime variant, IReadOnlyList<TensorData> inputs, TagList tags, CancellationToken cancellationToken)
    {
        var queued = Stopwatch.GetTimestamp();
        using var slot = await endpoint.EnterAsync(cancellationToken);
        var model = await variant.AcquireAsync(cancellationToken);
        try
        {
            if (variant.Batcher is { } batcher)
            {
                return await batcher.EnqueueAsync(model, inputs, queued);
            }

            var start = Stopwatch.GetTimestamp();
            variant.Stats.Queue.Add(start - queued);
            PredictionMetrics.QueueTime.Record(Stopwatch.GetElapsedTime(queued, start).TotalSeconds, tags);
            var result = InferenceRunner.Run(model, inputs, null, out var timings);
            variant.Stats.Executed(1, 1, timings);
            PredictionMetrics.ComputeTime.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, tags);
            return result;
        }
        finally
        {
            model.Release();
        }
    }

    private void StartShadow(EndpointRuntime endpoint, VariantRuntime shadow, IReadOnlyList<TensorData> inputs, TensorData[] served)
    {
        if (Interlocked.Increment(ref _shadowsInFlight) > MaxShadowsInFlight)
        {
            // The copy is best effort: under overload the shadow is skipped, never the caller slowed.
            Interlocked.Decrement(ref _shadowsInFlight);
            endpoint.ShadowStats.Skip();
            return;
        }

        _ = Task.Run(async () =>
        {
            var tags = new TagList { { "endpoint", endpoint.Name }, { "variant", shadow.Name } };
            try
            {
                TensorBinding.Validate(shadow.Signature, inputs, rejectNonFinite: false);
                var model = await shadow.AcquireAsync(CancellationToken.None);
                TensorData[] outputs;
                var start = Stopwatch.GetTimestamp();
                try
                {
                    outputs = InferenceRunner.Run(model, inputs, null);
                }
                finally
                {
                    model.Release();
                }

                var elapsed = Stopwatch.GetElapsedTime(start);
                var difference = Difference(served, outputs);
                endpoint.ShadowStats.Record(elapsed.TotalMilliseconds, difference);
                PredictionMetrics.ShadowTime.Record(elapsed.TotalSeconds, tags);
                PredictionMetrics.ShadowDifference.Record(difference, tags);
            }
            catch (Exception ex)
            {
                endpoint.ShadowStats.Fail();
                LogShadowFailed(logger, endpoint.Name, shadow.Name, ex.Message);
            }
            finally
            {
                Interlocked.Decrement(ref _shadowsInFlight);
            }
        });
    }

    /// <summary>The largest absolute difference over the outputs both answers have with equal sizes.</summary>
    internal static double Difference(IReadOnlyList<TensorData> served, IReadOnlyList<TensorData> shadow)
    {
        double max = 0;
        foreach (var a in served)
        {
            var b = shadow.FirstOrDefault(o => o.Name == a.Name);
            if (b is null || b.Data.Length != a.Data.Length || a.Data is string[])
            {
                continue;
            }

            for (var i = 0; i < a.Data.Length; i++)
            {
                max = Math.Max(max, Math.Abs(TensorBinding.At(a.Data, i) - TensorBinding.At(b.Data, i)));
            }
        }

        return max;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Model of endpoint {Endpoint} variant {Variant} failed: {Reason}")]
    private static partial void LogModelFailed(ILogger logger, string endpoint, string variant, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Shadow {Variant} of endpoint {Endpoint} failed: {Reason}")]
    private static partial void LogShadowFailed(ILogger logger, string endpoint, string variant, string reason);
}
