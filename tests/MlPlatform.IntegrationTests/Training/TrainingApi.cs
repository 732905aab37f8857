using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Training;

/// <summary>One host per provider (local artifact folder) with the usual accounts, for the training tests.</summary>
public sealed class TrainingHostsFixture : IAsyncLifetime
{
    private readonly Dictionary<DatabaseProvider, Task<WorkflowTestAccounts>> _hosts = [];
    private readonly Lock _lock = new();

    public Task<WorkflowTestAccounts> For(DatabaseProvider provider)
    {
        lock (_lock)
        {
            if (!_hosts.TryGetValue(provider, out var host))
            {
                host = StartAsync(provider);
                _hosts[provider] = host;
            }

            return host;
        }
    }

    private static async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider) =>
        await WorkflowTestAccounts.CreateAsync(await PlatformFactory.CreateAsync(provider));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            if (host.IsCompletedSuccessfully)
            {
                host.Result.Dispose();
                await host.Result.Factory.DisposeAsync();
            }
        }
    }
}

/// <summary>Workflow calls as a user makes them, and data written to the host's artifact store.</summary>
internal static class TrainingApi
{
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(90);

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    public static IObjectStore Store(WorkflowTestAccounts api) => api.Factory.Services.GetRequiredService<IObjectStore>();

    public static async Task<string> PutAsync(WorkflowTestAccounts api, string key, string text)
    {
        await using var content = new MemoryStream(Encoding.UTF8.GetBytes(text));
        await Store(api).PutAsync(key, content, "text/csv");
        return key;
    }

    public static async Task<byte[]> ReadAsync(WorkflowTestAccounts api, string key)
    {
        await using var stream = await Store(api).OpenReadAsync(key);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer);
        return buffer.ToArray();
    }

    public static async Task<HttpResponseMessage> SubmitRaw(HttpClient client, string project, object definition) =>
        await client.PostAsync($"/api/v1/projects/{project}/workflows",
            new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));

    public static async Task Submit(HttpClient client, string project, object definition)
    {
        var response = await SubmitRaw(client, project, definition);
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    public static async Task<Guid> Start(HttpClient client, string project, string workflow, object? parameters = null)
    {
        var response = await client.PostAsJsonAsync($"/api/v1/projects/{project}/workflows/{workflow}/runs", new { parameters = parameters ?? new { } });
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        using var body = JsonDocument.Parse(text);
        return body.RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> Get(HttpClient client, string project, Guid run)
    {
        var response = await client.GetAsync($"/api/v1/projects/{project}/runs/{run}");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        using var body = JsonDocument.Parse(text);
        return body.RootElement.Clone();
    }

    public static async Task<JsonElement> WaitFor(HttpClient client, string project, Guid run, params string[] states)
    {
        states = states.Length > 0 ? states : ["succeeded", "failed", "cancelled"];
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var body = await Get(client, project, run);
            if (states.Contains(body.GetProperty("state").GetString()))
            {
                return body;
            }

            if (clock.Elapsed > RunTimeout)
            {
                throw new TimeoutException($"Run {run} did not reach {string.Join("/", states)}: {body}");
            }

            await Task.Delay(100);
        }
    }

    public static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    public static string State(JsonElement run, string step) => Step(run, step).GetProperty("state").GetString()!;

    public static JsonElement Outputs(JsonElement run, string step) => Step(run, step).GetProperty("outputs");

    public static List<JsonElement> Attempts(JsonElement run, string step) => Step(run, step).GetProperty("attempts").EnumerateArray().ToList();

    /// <summary>Two numbers, a category and a label for each task, generated with a fixed seed.</summary>
    public static string Csv(int rows = 240, int seed = 3)
    {
        var random = new Random(seed);
        var text = new StringBuilder("x1,x2,colour,churn,segment,spend\n");
        string[] colours = ["red", "green", "blue"];
        for (var i = 0; i < rows; i++)
        {
            var x1 = random.NextDouble() * 2 - 1;
            var x2 = random.NextDouble() * 2 - 1;
            var colour = colours[random.Next(colours.Length)];
            var shift = colour switch { "red" => 0.8, "green" => -0.4, _ => 0.0 };
            var noise = (random.NextDouble() - 0.5) * 0.4;
            var churn = 1.5 * x1 - x2 + shift + noise > 0;
            var segment = x1 + noise > 0.3 ? "gold" : x2 > 0 ? "silver" : "bronze";
            var spend = 3 * x1 - 2 * x2 + shift * 2 + noise + 10;
            text.Append(CultureInfo.InvariantCulture, $"{x1:R},{x2:R},{colour},{(churn ? 1 : 0)},{segment},{spend:R}\n");
        }

        return text.ToString();
    }
}
