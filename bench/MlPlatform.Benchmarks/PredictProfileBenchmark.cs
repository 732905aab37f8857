using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using MlPlatform.Tests.Onnx;

namespace MlPlatform.Benchmarks;

/// <summary>
/// Where P2's added latency goes: the tiny model's V2 /infer at one client beside the requests that
/// share its path up to a point (the anonymous HTTP floor, an authenticated GET that checks the
/// endpoint's project, the readiness GET that also takes the model), sent in turn, one request each, so
/// a changing load hits every path alike; with the process's allocations per request. With
/// <c>--loop N</c> it then sends only /infer for N seconds, for a profiler to attach (the PID is printed).
/// </summary>
public static class PredictProfileBenchmark
{
    public static async Task RunAsync(TimeSpan duration, TimeSpan loop)
    {
        await using var host = await BenchHost.StartAsync(null, connections: 4, app =>
        {
            // The same pipeline (every middleware) with nothing in the handler: what any GET or POST of this size costs.
            app.MapGet("/bench/empty", () => TypedResults.Ok()).AllowAnonymous();
            app.MapPost("/bench/empty", () => TypedResults.Ok()).AllowAnonymous().WithMetadata(new MlPlatform.UserManagement.Contracts.NotAuditedAttribute());
            app.MapPost("/bench/read", async (HttpContext context) =>
            {
                while (true)
                {
                    var read = await context.Request.BodyReader.ReadAsync();
                    context.Request.BodyReader.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        return TypedResults.Ok();
                    }
                }
            }).AllowAnonymous().WithMetadata(new MlPlatform.UserManagement.Contracts.NotAuditedAttribute());
        });
        var client = host.Client;
        await Ensure(await client.PostAsJsonAsync("/api/v1/projects", new { name = "bench" }));
        var tiny = OnnxModelWriter.LogisticRegression(Enumerable.Range(0, 10).Select(i => (i - 5) * 0.1f).ToArray(), 0.1f);
        await Ensure(await client.PostAsJsonAsync("/api/v1/projects/bench/models", new { name = "tiny" }));
        var model = new ByteArrayContent(tiny);
        model.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        await Ensure(await client.PostAsync("/api/v1/projects/bench/models/tiny/versions", model));
        await Ensure(await client.PostAsJsonAsync("/api/v1/projects/bench/endpoints", new { name = "tiny", variants = new[] { new { model = "tiny", version = 1 } } }));

        var row = Enumerable.Range(0, 10).Select(i => i * 0.05f).ToArray();
        var body = JsonSerializer.SerializeToUtf8Bytes(new { inputs = new[] { new { name = "x", shape = new[] { 1, row.Length }, datatype = "FP32", data = row } } });
        using var options = new Microsoft.ML.OnnxRuntime.SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
        options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        using var session = new InferenceSession(tiny, options);

        var paths = new (string Name, Func<Task> Once)[]
        {
            ("GET /v2/health/live (floor)", () => Send(client, HttpMethod.Get, "/v2/health/live", null)),
            ("GET /bench/empty", () => Send(client, HttpMethod.Get, "/bench/empty", null)),
            ("POST /bench/empty (body not read)", () => Send(client, HttpMethod.Post, "/bench/empty", body)),
            ("POST /bench/read (body read)", () => Send(client, HttpMethod.Post, "/bench/read", body)),
            ("GET /v2/models/tiny (auth + access)", () => Send(client, HttpMethod.Get, "/v2/models/tiny", null)),
            ("GET /v2/models/tiny/ready", () => Send(client, HttpMethod.Get, "/v2/models/tiny/ready", null)),
            ("POST /infer, body refused (400)", () => Send(client, HttpMethod.Post, "/v2/models/tiny/infer", Invalid, HttpStatusCode.BadRequest)),
            ("POST /v2/models/tiny/infer", () => Send(client, HttpMethod.Post, "/v2/models/tiny/infer", body)),
        };
        var latencies = paths.Select(_ => new List<double>(200_000)).ToArray();
        var raw = new List<double>(1_000_000);
        var rawCold = new List<double>(100_000);
        using var runOptions = new RunOptions();
        string[] names = ["x"];
        string[] outputs = ["y"];

        // Warm-up: every path JIT-compiled and tiered up before anything is counted.
        foreach (var (_, once) in paths)
        {
            await Repeat(once, TimeSpan.FromSeconds(2), null);
        }

        RawRun(session, row, TimeSpan.FromSeconds(1), null);

        // Round-robin, one request of each path in turn: a load that comes and goes (other processes
        // on the machine) hits every path alike, so their differences hold even when the absolutes do not.
        using var server = new ServerProbe();
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var stopwatch = Stopwatch.StartNew();
        var rounds = 0;
        while (stopwatch.Elapsed < duration)
        {
            for (var p = 0; p < paths.Length; p++)
            {
                var started = Stopwatch.GetTimestamp();
                await paths[p].Once();
                latencies[p].Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
            }

            // One raw Run right after the requests, on the same thread: Run with caches as the requests leave them.
            var cold = Stopwatch.GetTimestamp();
            RawOnce(session, row, names, outputs, runOptions);
            rawCold.Add(Stopwatch.GetElapsedTime(cold).TotalMicroseconds);
            rounds++;
            if (rounds % 64 == 0)
            {
                RawRun(session, row, TimeSpan.FromMilliseconds(2), raw);
            }
        }

        var perRound = (GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / (double)rounds;
        server.Dispose();

        // Allocations of each path alone (client and server, the whole process), after the timed part.
        var allocated = new double[paths.Length];
        for (var p = 0; p < paths.Length; p++)
        {
            var before = GC.GetTotalAllocatedBytes(precise: true);
            for (var i = 0; i < 2_000; i++)
            {
                await paths[p].Once();
            }

            allocated[p] = (GC.GetTotalAllocatedBytes(precise: true) - before) / 2_000.0;
        }

        Console.WriteLine($"predict-profile: {Environment.ProcessorCount} cores, {rounds:N0} rounds of one request per path in turn over {duration.TotalSeconds:0} s, 1 client, bearer token (ES256); {perRound:N0} B allocated per round");
        var rawP50 = Percentile(raw, 0.50);
        var rawP99 = Percentile(raw, 0.99);
        Console.WriteLine($"  raw Run (tiny): p50 {rawP50:N1} µs p99 {rawP99:N1} µs in a loop; p50 {Percentile(rawCold, 0.5):N1} µs p99 {Percentile(rawCold, 0.99):N1} µs once after each round of requests");
        for (var p = 0; p < paths.Length; p++)
        {
            var l = latencies[p];
            Console.WriteLine($"  {paths[p].Name,-40} {l.Count,7:N0} req  p50 {Percentile(l, 0.50),6:N0} µs  p90 {Percentile(l, 0.90),6:N0}  p99 {Percentile(l, 0.99),6:N0} µs  {allocated[p],7:N0} B/req (client + server)");
        }

        Console.WriteLine("  server side (the host's own metrics, same requests): request duration from Kestrel's start to its end, p50 by route");
        foreach (var (route, p50) in server.Routes())
        {
            Console.WriteLine($"    {route,-50} p50 {p50,6:N0} µs");
        }

        Console.WriteLine($"    ONNX Runtime Run in the service (compute metric) p50 {server.ComputeP50:N1} µs");
        var infer = latencies[^1];
        Console.WriteLine($"  P2 added over raw Run: p50 {Percentile(infer, 0.50) - rawP50:N0} µs, p99 {Percentile(infer, 0.99) - rawP99:N0} µs; above the floor: p50 {Percentile(infer, 0.50) - Percentile(latencies[0], 0.50):N0} µs");

        if (loop > TimeSpan.Zero)
        {
            Console.WriteLine($"  looping POST /infer for {loop.TotalSeconds:0} s in PID {Environment.ProcessId}");
            var looped = new List<double>(1_000_000);
            await Repeat(paths[^1].Once, loop, looped);
            Console.WriteLine($"  loop: {looped.Count:N0} req  p50 {Percentile(looped, 0.50):N0} µs  p99 {Percentile(looped, 0.99):N0} µs");
        }
    }

    /// <summary>A V2 body that passes everything up to the signature check (a datatype the model does not take): the request path without Run and the answer.</summary>
    private static readonly byte[] Invalid = System.Text.Encoding.UTF8.GetBytes("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,10],\"datatype\":\"FP64\",\"data\":[0,0.05,0.1,0.15,0.2,0.25,0.3,0.35,0.4,0.45]}]}");

    private static async Task Send(HttpClient client, HttpMethod method, string path, byte[]? body, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }

        using var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        if (response.StatusCode != expected)
        {
            throw new InvalidOperationException($"{method} {path}: {(int)response.StatusCode}");
        }
    }

    private static async Task Repeat(Func<Task> once, TimeSpan duration, List<double>? into)
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            await once();
            into?.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }
    }

    private static void RawRun(InferenceSession session, float[] row, TimeSpan duration, List<double>? into)
    {
        using var runOptions = new RunOptions();
        var names = new[] { "x" };
        var outputs = new[] { "y" };
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < duration)
        {
            var started = Stopwatch.GetTimestamp();
            using var input = OrtValue.CreateTensorValueFromMemory((float[])row.Clone(), [1, row.Length]);
            using var results = session.Run(runOptions, names, [input], outputs);
            _ = results[0].GetTensorDataAsSpan<float>().ToArray();
            into?.Add(Stopwatch.GetElapsedTime(started).TotalMicroseconds);
        }
    }

    private static void RawOnce(InferenceSession session, float[] row, string[] names, string[] outputs, RunOptions runOptions)
    {
        using var input = OrtValue.CreateTensorValueFromMemory((float[])row.Clone(), [1, row.Length]);
        using var results = session.Run(runOptions, names, [input], outputs);
        _ = results[0].GetTensorDataAsSpan<float>().ToArray();
    }

    private static double Percentile(List<double> values, double p)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        var sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];
    }

    private static async Task Ensure(HttpResponseMessage response)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>The host's request-duration metric by method and route, and the predictions' compute metric, while it lives.</summary>
    private sealed class ServerProbe : IDisposable
    {
        private readonly System.Diagnostics.Metrics.MeterListener _listener = new();
        private readonly Dictionary<string, List<double>> _routes = new();
        private readonly List<double> _compute = new(200_000);
        private readonly Lock _lock = new();

        public ServerProbe()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name is "http.server.request.duration" or "mlplatform.predictions.compute.duration")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<double>((instrument, seconds, tags, _) =>
            {
                lock (_lock)
                {
                    if (instrument.Name == "mlplatform.predictions.compute.duration")
                    {
                        _compute.Add(seconds * 1e6);
                        return;
                    }

                    string? method = null, route = null, status = null;
                    foreach (var tag in tags)
                    {
                        switch (tag.Key)
                        {
                            case "http.request.method": method = tag.Value as string; break;
                            case "http.route": route = tag.Value as string; break;
                            case "http.response.status_code": status = tag.Value?.ToString(); break;
                        }
                    }

                    var key = $"{method} {route} {status}";
                    if (!_routes.TryGetValue(key, out var list))
                    {
                        _routes[key] = list = new List<double>(100_000);
                    }

                    list.Add(seconds * 1e6);
                }
            });
            _listener.Start();
        }

        public double ComputeP50
        {
            get
            {
                lock (_lock)
                {
                    return Percentile(_compute, 0.5);
                }
            }
        }

        public IEnumerable<(string Route, double P50)> Routes()
        {
            lock (_lock)
            {
                return _routes.Where(r => r.Value.Count > 100).Select(r => (r.Key, Percentile(r.Value, 0.5))).OrderBy(r => r.Key).ToList();
            }
        }

        public void Dispose() => _listener.Dispose();
    }
}
