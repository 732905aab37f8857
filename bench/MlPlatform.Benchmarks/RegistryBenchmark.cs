using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MlPlatform.Tests.Onnx;

namespace MlPlatform.Benchmarks;

/// <summary>
/// Issue 5's benchmark: reading a model version by model name and alias through the API
/// (<c>GET .../models/{name}/aliases/{alias}/version</c>: bearer token, project check, alias and
/// version look-ups, JSON) against a raw primary-key SELECT of the same version row on the same
/// database, both at the same steady rate, in alternating rounds of one run.
/// </summary>
public static class RegistryBenchmark
{
    private const string Project = "bench";
    private const string Model = "churn";
    private const string Alias = "champion";

    public static async Task RunAsync(string? postgres, int rate, TimeSpan duration)
    {
        await using var host = await BenchHost.StartAsync(postgres, connections: 64);
        var client = host.Client;
        var version = await SetUpAsync(client);

        var apiPath = $"/api/v1/projects/{Project}/models/{Model}/aliases/{Alias}/version";
        async Task<bool> Api()
        {
            using var response = await client.GetAsync(apiPath);
            await response.Content.LoadIntoBufferAsync();
            return response.IsSuccessStatusCode;
        }

        // The version's primary key as the database stores it, read back so the raw query
        // compares like with like on either provider (a GUID is TEXT on SQLite, uuid on PostgreSQL).
        var table = host.Table("model_registry", "model_versions");
        object id;
        await using (var connection = await host.OpenAsync("model_registry"))
        await using (var find = connection.CreateCommand())
        {
            find.CommandText = $"SELECT id FROM {table} WHERE version = {version}";
            id = (await find.ExecuteScalarAsync())!;
        }

        var select = $"SELECT * FROM {table} WHERE id = @id";
        async Task<bool> Raw()
        {
            // A pooled connection per read, as a request gets one: the raw side pays the same open
            // and return a DbContext does, and reads every column of the row.
            await using var connection = await host.OpenAsync("model_registry");
            await using var command = connection.CreateCommand();
            command.CommandText = select;
            var parameter = command.CreateParameter();
            parameter.ParameterName = "@id";
            parameter.Value = id;
            command.Parameters.Add(parameter);
            await using var reader = await command.ExecuteReaderAsync();
            var found = await reader.ReadAsync();
            var values = new object[reader.FieldCount];
            reader.GetValues(values);
            return found;
        }

        // Warm up both paths (JIT, pools, the host's token and project caches) before measuring.
        Console.WriteLine(await PacedLoad.RunAsync("warm-up api", Api, rate, TimeSpan.FromSeconds(3)));
        Console.WriteLine(await PacedLoad.RunAsync("warm-up raw", Raw, rate, TimeSpan.FromSeconds(3)));
        var api = new List<PacedLoad.Result>();
        var raw = new List<PacedLoad.Result>();
        for (var round = 0; round < 2; round++)
        {
            // Alternate which goes first, so neither always runs on a warmer or quieter machine.
            foreach (var first in round % 2 == 0 ? new[] { true, false } : [false, true])
            {
                if (first)
                {
                    api.Add(await PacedLoad.RunAsync($"alias → version, API ({host.ProviderName})", Api, rate, duration));
                    Console.WriteLine(api[^1]);
                }
                else
                {
                    raw.Add(await PacedLoad.RunAsync($"PK SELECT, raw ({host.ProviderName})", Raw, rate, duration));
                    Console.WriteLine(raw[^1]);
                }
            }
        }

        for (var round = 0; round < api.Count; round++)
        {
            Console.WriteLine($"round {round + 1}: API p99 / raw p99 = {api[round].P99Us / raw[round].P99Us:F2}, API p50 / raw p50 = {api[round].P50Us / raw[round].P50Us:F2}");
        }

        var worstApi = api.Max(r => r.P99Us);
        var worstRaw = raw.Max(r => r.P99Us);
        Console.WriteLine($"{host.ProviderName}: from send, worst-round p99 API {api.Max(r => r.ServiceP99Us) / 1000:F2} ms, raw {raw.Max(r => r.ServiceP99Us) / 1000:F2} ms, ratio {api.Max(r => r.ServiceP99Us) / raw.Max(r => r.ServiceP99Us):F2}");
        Console.WriteLine($"{host.ProviderName}: from due, worst-round p99 API {worstApi / 1000:F2} ms, raw {worstRaw / 1000:F2} ms, ratio {worstApi / worstRaw:F2} (target ≤ 3× and ≤ 5 ms), {rate} req/s, {Environment.ProcessorCount} cores");
    }

    /// <summary>A project, a model with three uploaded versions, and an unprotected alias moved twice.</summary>
    private static async Task<int> SetUpAsync(HttpClient client)
    {
        await Expect(await client.PostAsJsonAsync("/api/v1/projects", new { name = Project }), HttpStatusCode.Created);
        await Expect(await client.PostAsJsonAsync($"/api/v1/projects/{Project}/models", new { name = Model, description = "benchmark", tags = new[] { "bench" } }), HttpStatusCode.Created);
        float[] weights = [0.5f, -1.25f, 2f];
        for (var i = 0; i < 3; i++)
        {
            using var content = new ByteArrayContent(OnnxModelWriter.LogisticRegression(weights, 0.25f + i));
            content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            await Expect(await client.PostAsync($"/api/v1/projects/{Project}/models/{Model}/versions", content), HttpStatusCode.Created);
        }

        // Move the alias twice so the read goes through an alias with history, as a served model's would.
        foreach (var target in new[] { 2, 3 })
        {
            await Expect(await client.PutAsJsonAsync($"/api/v1/projects/{Project}/models/{Model}/aliases/{Alias}", new { version = target }), HttpStatusCode.OK);
        }

        using var check = await client.GetAsync($"/api/v1/projects/{Project}/models/{Model}/aliases/{Alias}/version");
        await Expect(check, HttpStatusCode.OK, dispose: false);
        using var body = JsonDocument.Parse(await check.Content.ReadAsStringAsync());
        var version = body.RootElement.GetProperty("version").GetInt32();
        if (version != 3)
        {
            throw new InvalidOperationException($"The alias resolved to version {version}, expected 3.");
        }

        return version;
    }

    private static async Task Expect(HttpResponseMessage response, HttpStatusCode status, bool dispose = true)
    {
        try
        {
            if (response.StatusCode != status)
            {
                throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri} answered {(int)response.StatusCode}, expected {(int)status}: {await response.Content.ReadAsStringAsync()}");
            }
        }
        finally
        {
            if (dispose)
            {
                response.Dispose();
            }
        }
    }
}
