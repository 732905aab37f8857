using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.Benchmarks.Onnx;
using MlPlatform.Tests.Onnx;

namespace MlPlatform.Benchmarks;

/// <summary>
/// The prediction service against raw ONNX Runtime on the same model files and inputs, in one run:
/// P1 V2 /infer throughput over HTTP ÷ raw session.Run throughput (a model of ~1 ms compute);
/// P2 latency added over raw Run for a tiny model at one client (p50, p99);
/// P5 micro-batched ÷ unbatched throughput at 16 clients, and their p95 ratio.
/// </summary>
public static class PredictBenchmark
{
    private const int HeavyInputs = 64;

    /// <param name="Only">The comparisons to run (p1, p2, p5, comma-separated); all when null.</param>
    /// <param name="Loop">After the rounds, P1's raw then V2 side alone for this long each, for a profiler.</param>
    /// <param name="P1Clients">The client counts P1 is measured at: one (latency-bound) up to saturation.</param>
    public sealed record Options(TimeSpan Duration, int Rounds, bool Spinning, int IntraOpThreads, string? Only, TimeSpan Loop, int[] P1Clients);

    public static async Task RunAsync(Options o)
    {
        var (duration, rounds, spinning, intraOpThreads, loop) = (o.Duration, o.Rounds, o.Spinning, o.IntraOpThreads, o.Loop);
        bool Runs(string part) => o.Only is null || o.Only.Split(',').Contains(part, StringComparer.OrdinalIgnoreCase);
        // The host and the raw sessions get the same session options.
        var settings = new List<string> { $"--Predictions:Sessions:AllowSpinning={spinning}" };
        if (intraOpThreads > 0)
        {
            settings.Add($"--Predictions:Sessions:IntraOpThreads={intraOpThreads}");
        }

        // P1's floor: a route of the bench's own through the same pipeline (authentication included)
        // that reads the body and makes the raw side's Run, nothing else: what any handler on Kestrel
        // over loopback could reach here. The session is set once it exists, before any request.
        InferenceSession? floorSession = null;
        float[] floorRow = [];
        await using var host = await BenchHost.StartAsync(null, connections: 64, settings: settings, map: app =>
            app.MapPost("/bench/run", async (Microsoft.AspNetCore.Http.HttpContext context) =>
            {
                while (true)
                {
                    var read = await context.Request.BodyReader.ReadAsync();
                    context.Request.BodyReader.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        break;
                    }
                }

                var y = RawOnce(floorSession!, floorRow);
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = 32;
                await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes($"{{\"y\":{y[0],26:E16}}}"));
            }).AllowAnonymous().WithMetadata(new MlPlatform.UserManagement.Contracts.NotAuditedAttribute()));
        var client = host.Client;
        var server = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, client.BaseAddress!.Port);
        using var lean = new LeanHttpClient(server, client.DefaultRequestHeaders.Authorization!.ToString());
        await Ensure(await client.PostAsJsonAsync("/api/v1/projects", new { name = "bench" }));

        var tinyWeights = Enumerable.Range(0, 10).Select(i => (i - 5) * 0.1f).ToArray();
        var tiny = OnnxModelWriter.LogisticRegression(tinyWeights, 0.1f);
        // P1's model: 64 inputs spread over 256 rows, 2 × 256-wide layers: ≈ 21 M multiply-adds per
        // request over 0.3 MB of weights (≈ 1 ms here), so its time is compute, as P1 asks.
        var compute = MlpModelWriter.WriteCompute(HeavyInputs, rows: 256, hidden: 512, layers: 2);
        // P5's model: 64 → 5 × 2048 ReLU → 1: ≈ 17 M multiply-adds and 67 MB of weights read per row,
        // memory-bound, so a batch sharing one pass over the weights shows what batching is for.
        var heavy = MlpModelWriter.Write(HeavyInputs, hidden: 2048, layers: 5);
        await Register(client, "tiny", tiny);
        await Register(client, "compute", compute);
        await Register(client, "heavy", heavy);
        await Deploy(client, new { name = "tiny", variants = new[] { new { model = "tiny", version = 1 } } });
        await Deploy(client, new { name = "compute", variants = new[] { new { model = "compute", version = 1 } } });
        await Deploy(client, new { name = "heavy", variants = new[] { new { model = "heavy", version = 1 } } });
        await Deploy(client, new { name = "heavy-batched", variants = new[] { new { model = "heavy", version = 1 } }, batching = new { enabled = true, maxBatchSize = 16, maxDelayMs = 2 } });

        var tinyRow = Enumerable.Range(0, 10).Select(i => i * 0.05f).ToArray();
        var heavyRow = Enumerable.Range(0, HeavyInputs).Select(i => (float)Math.Sin(i)).ToArray();
        var tinyBody = Body(tinyRow);
        var heavyBody = Body(heavyRow);

        // As the service builds them: all graph optimisations, spinning of idle intra-op threads as asked (off by default).
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        // The host's default when none is given (PredictionsSettings.IntraOpThreads): set, so ONNX Runtime pins nothing.
        options.IntraOpNumThreads = intraOpThreads > 0 ? intraOpThreads : Environment.ProcessorCount;

        if (!spinning)
        {
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        }

        using var tinySession = new InferenceSession(tiny, options);
        using var computeSession = new InferenceSession(compute, options);
        (floorSession, floorRow) = (computeSession, heavyRow);

        Console.WriteLine($"predict suite: {Environment.ProcessorCount} cores, {duration.TotalSeconds:0} s per measurement, {rounds} rounds, host on Kestrel loopback, bearer token (ES256); sessions: spinning {(spinning ? "on" : "off")}, intra-op threads {(intraOpThreads > 0 ? intraOpThreads : Environment.ProcessorCount)}");
        Console.WriteLine($"raw and V2 of one comparison alternate in slices of {Slice.TotalMilliseconds:0} ms, so a load that comes and goes hits both alike");

        // Warm-up of both paths.
        await Http(client, "compute", heavyBody, 4, TimeSpan.FromSeconds(2));
        lean.Post("/v2/models/compute/infer", heavyBody, 4, TimeSpan.FromSeconds(2));
        lean.Post("/bench/run", heavyBody, 4, TimeSpan.FromSeconds(2));
        Raw(computeSession, heavyRow, 4, TimeSpan.FromSeconds(2));
        await Http(client, "tiny", tinyBody, 1, TimeSpan.FromSeconds(2));
        lean.Post("/v2/models/tiny/infer", tinyBody, 1, TimeSpan.FromSeconds(2));
        Raw(tinySession, tinyRow, 1, TimeSpan.FromSeconds(2));
        await Http(client, "heavy", heavyBody, 16, TimeSpan.FromSeconds(2));
        await Http(client, "heavy-batched", heavyBody, 16, TimeSpan.FromSeconds(2));

        for (var round = 1; round <= rounds; round++)
        {
            Console.WriteLine($"--- round {round}");
            foreach (var clients in Runs("p1") ? o.P1Clients : [])
            {
                using var probe = new ComputeProbe();
                var measured = await Alternate(
                    duration,
                    slice => Task.FromResult(Raw(computeSession, heavyRow, clients, slice)),
                    slice => Http(client, "compute", heavyBody, clients, slice),
                    slice => Task.FromResult(lean.Post("/v2/models/compute/infer", heavyBody, clients, slice)),
                    slice => Task.FromResult(lean.Post("/bench/run", heavyBody, clients, slice)));
                var (raw, http, wrk, floor) = (measured[0], measured[1], measured[2], measured[3]);
                var run = probe.Percentile(0.50);
                Console.WriteLine($"P1 compute, {clients} client(s): raw {raw}  |  V2 lean client {wrk}  |  ratio {wrk.PerSecond / raw.PerSecond:0.00}");
                Console.WriteLine($"   V2 HttpClient {http}  |  ratio {http.PerSecond / raw.PerSecond:0.00}");
                Console.WriteLine($"   floor (body read + the same Run, lean client) {floor}  |  ratio {floor.PerSecond / raw.PerSecond:0.00}; V2 ÷ floor {wrk.PerSecond / floor.PerSecond:0.00}");
                // Where the difference lies: the service's own Run (its compute metric) against the raw Run, and the rest of the request around it.
                Console.WriteLine($"   service Run p50 {run:N0} p95 {probe.Percentile(0.95):N0} mean {probe.Mean():N0} µs (raw Run p50 {raw.P50:N0} p95 {raw.P95:N0} mean {raw.Latencies.Average():N0} µs)  |  V2 outside Run, p50: lean {wrk.P50 - run:N0} µs, HttpClient {http.P50 - run:N0} µs");
            }

            if (Runs("p2"))
            {
                var floor = await Get(client, "/v2/health/live", duration);
                Console.WriteLine($"HTTP floor (GET /v2/health/live, anonymous, 1 client): {floor}");
                var tinyMeasured = await Alternate(
                    duration,
                    slice => Task.FromResult(Raw(tinySession, tinyRow, 1, slice)),
                    slice => Http(client, "tiny", tinyBody, 1, slice),
                    slice => Task.FromResult(lean.Post("/v2/models/tiny/infer", tinyBody, 1, slice)));
                var (rawTiny, httpTiny, wrkTiny) = (tinyMeasured[0], tinyMeasured[1], tinyMeasured[2]);
                Console.WriteLine($"P2 tiny, 1 client: raw {rawTiny}  |  V2 lean client {wrkTiny}  |  added p50 {wrkTiny.P50 - rawTiny.P50:0} µs, p99 {wrkTiny.P99 - rawTiny.P99:0} µs");
                Console.WriteLine($"   V2 HttpClient {httpTiny}  |  added p50 {httpTiny.P50 - rawTiny.P50:0} µs, p99 {httpTiny.P99 - rawTiny.P99:0} µs");
            }

            if (Runs("p5"))
            {
                var batching = await Alternate(
                    duration,
                    slice => Http(client, "heavy", heavyBody, 16, slice),
                    slice => Http(client, "heavy-batched", heavyBody, 16, slice));
                var (plain, batched) = (batching[0], batching[1]);
                Console.WriteLine($"P5 heavy, 16 clients: unbatched {plain}  |  batched {batched}  |  throughput ×{batched.PerSecond / plain.PerSecond:0.00}, p95 ratio {batched.P95 / plain.P95:0.00}");
            }
        }

        if (loop > TimeSpan.Zero)
        {
            // P1's raw side, then its V2 side, at 4 clients each, for a profiler to attach to this process.
            Console.WriteLine($"looping P1's raw Run at 4 threads for {loop.TotalSeconds:0} s in PID {Environment.ProcessId}");
            Console.WriteLine($"raw loop: {Raw(computeSession, heavyRow, 4, loop)}");
            Console.WriteLine($"looping P1's V2 /infer at 4 clients for {loop.TotalSeconds:0} s");
            Console.WriteLine($"V2 loop: {await Http(client, "compute", heavyBody, 4, loop)}");
        }
    }

    private static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(250);

    /// <summary>Every side of a comparison for the measurement's duration each, taken in turn in slices and merged.</summary>
    private static async Task<Measurement[]> Alternate(TimeSpan duration, params Func<TimeSpan, Task<Measurement>>[] sides)
    {
        var parts = sides.Select(_ => new List<Measurement>()).ToArray();
        var cpu = new TimeSpan[sides.Length];
        using var process = Process.GetCurrentProcess();
        for (var spent = TimeSpan.Zero; spent < duration; spent += Slice)
        {
            for (var i = 0; i < sides.Length; i++)
            {
                process.Refresh();
                var before = process.TotalProcessorTime;
                parts[i].Add(await sides[i](Slice));
                process.Refresh();
                cpu[i] += process.TotalProcessorTime - before;
            }
        }

        return [.. parts.Select((p, i) => Merge(p, cpu[i]))];
    }

    private static Measurement Merge(List<Measurement> parts, TimeSpan cpu)
    {
        var all = parts.SelectMany(p => p.Latencies).Order().ToArray();
        return Summarize(all, TimeSpan.FromTicks(parts.Sum(p => p.Elapsed.Ticks)), parts.Sum(p => p.Errors)) with { Cpu = cpu };
    }

    /// <summary>Collects the service's compute-time metric (one Run per request) while it lives.</summary>
    private sealed class ComputeProbe : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private readonly List<double> _microseconds = new(100_000);
        private readonly Lock _lock = new();

        public ComputeProbe()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == "MlPlatform.Predictions" && instrument.Name == "mlplatform.predictions.compute.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((_, seconds, _, _) =>
            {
                lock (_lock)
                {
                    _microseconds.Add(seconds * 1e6);
                }
            });
            _listener.Start();
        }

        public double Percentile(double p)
        {
            lock (_lock)
            {
                var all = _microseconds.Order().ToArray();
                return all.Length == 0 ? double.NaN : all[Math.Min(all.Length - 1, (int)(p * all.Length))];
            }
        }

        public double Mean()
        {
            lock (_lock)
            {
                return _microseconds.Count == 0 ? double.NaN : _microseconds.Average();
            }
        }

        public void Dispose() => _listener.Dispose();
    }

    public sealed record Measurement(long Count, TimeSpan Elapsed, double P50, double P95, double P99, long Errors, double[] Latencies)
    {
        /// <summary>The whole process's CPU time while it was measured (client, host and runtime), when known.</summary>
        public TimeSpan? Cpu { get; init; }

        public double PerSecond => Count / Elapsed.TotalSeconds;

        public override string ToString() =>
            $"{PerSecond:N0}/s p50 {P50:N0} p95 {P95:N0} p99 {P99:N0} µs{(Cpu is { } cpu ? $" cpu {cpu.TotalMicroseconds / Count:N0} µs/op" : string.Empty)}{(Errors > 0 ? $" errors {Errors}" : string.Empty)}";
    }

    private static Measurement Raw(InferenceSession session, float[] row, int threads, TimeSpan duration)
    {
        var latencies = new List<double>[threads];
        var stopwatch = Stopwatch.StartNew();
        var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
        {
            var mine = latencies[t] = new List<double>(100_000);
            while (stopwatch.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                RawOnce(session, row);
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            }
        })).ToList();
        workers.ForEach(w => w.Start());
        workers.ForEach(w => w.Join());
        return Summarize(latencies, stopwatch.Elapsed, 0);
    }

    private static readonly RunOptions RawRunOptions = new();

    /// <summary>The same work as the service's Run: a tensor over the request's array in, the answer copied out.</summary>
    private static float[] RawOnce(InferenceSession session, float[] row)
    {
        using var input = OrtValue.CreateTensorValueFromMemory((float[])row.Clone(), [1, row.Length]);
        using var results = session.Run(RawRunOptions, ["x"], [input], ["y"]);
        return results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static async Task<Measurement> Http(HttpClient client, string endpoint, byte[] body, int clients, TimeSpan duration)
    {
        var latencies = new List<double>[clients];
        long errors = 0;
        var stopwatch = Stopwatch.StartNew();
        var path = $"/v2/models/{endpoint}/infer";
        var workers = Enumerable.Range(0, clients).Select(i => Task.Run(async () =>
        {
            var mine = latencies[i] = new List<double>(100_000);
            while (stopwatch.Elapsed < duration)
            {
                var started = Stopwatch.GetTimestamp();
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
                using var response = await client.PostAsync(path, content);
                await response.Content.LoadIntoBufferAsync();
                mine.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
                if (!response.IsSuccessStatusCode)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        return Summarize(latencies, stopwatch.Elapsed, errors);
    }

    private static async Task<Measurement> Get(HttpClient client, string path, TimeSpan duration)
    {
        var latencies = new List<double>[1];
        var mine = latencies[0] = new List<double>(100_000);
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            using var response = await client.GetAsync(path);
            await response.Content.LoadIntoBufferAsync();
            mine.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }

        return Summarize(latencies, stopwatch.Elapsed, 0);
    }

    private static Measurement Summarize(List<double>[] latencies, TimeSpan elapsed, long errors) =>
        Summarize(latencies.SelectMany(l => l).Order().ToArray(), elapsed, errors);

    private static Measurement Summarize(double[] sorted, TimeSpan elapsed, long errors)
    {
        double P(double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
        return new Measurement(sorted.Length, elapsed, P(0.50), P(0.95), P(0.99), errors, sorted);
    }

    private static byte[] Body(float[] row) => JsonSerializer.SerializeToUtf8Bytes(new
    {
        inputs = new[] { new { name = "x", shape = new[] { 1, row.Length }, datatype = "FP32", data = row } },
    });

    private static async Task Register(HttpClient client, string name, byte[] onnx)
    {
        await Ensure(await client.PostAsJsonAsync("/api/v1/projects/bench/models", new { name }));
        var content = new ByteArrayContent(onnx);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await Ensure(await client.PostAsync($"/api/v1/projects/bench/models/{name}/versions", content));
    }

    private static async Task Deploy(HttpClient client, object spec) =>
        await Ensure(await client.PostAsJsonAsync("/api/v1/projects/bench/endpoints", spec));

    private static async Task Ensure(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }
}
