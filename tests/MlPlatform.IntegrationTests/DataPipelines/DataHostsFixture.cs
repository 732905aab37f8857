using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Contracts;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.DataPipelines;

/// <summary>
/// One host per database provider with the usual accounts, a small upload limit (so 413 needs a
/// small body), OpenLineage delivery to a receiver in the test, and a log of DatasetVersionCreated.
/// </summary>
public sealed class DataHostsFixture : IAsyncLifetime
{
    public const long MaxUploadBytes = 256 * 1024;

    private readonly Dictionary<DatabaseProvider, Task<WorkflowTestAccounts>> _hosts = [];
    private readonly Lock _lock = new();

    public OpenLineageReceiver Receiver { get; } = new();

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

    private async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider)
    {
        var factory = await PlatformFactory.CreateAsync(provider, Settings(Receiver), services =>
        {
            services.AddSingleton<DatasetEventLog>();
            services.AddScoped<IIntegrationEventHandler<DatasetVersionCreated>>(sp => sp.GetRequiredService<DatasetEventLog>());
        });
        return await WorkflowTestAccounts.CreateAsync(factory);
    }

    public static Dictionary<string, string?> Settings(OpenLineageReceiver receiver) => new()
    {
        ["DataPipelines:MaxUploadBytes"] = MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["DataPipelines:OpenLineage:Url"] = receiver.Url,
        ["DataPipelines:OpenLineage:DeliveryInterval"] = "00:00:00.200",
    };

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

        Receiver.Dispose();
    }
}

public sealed class DatasetEventLog : IIntegrationEventHandler<DatasetVersionCreated>
{
    public ConcurrentQueue<DatasetVersionCreated> Events { get; } = new();

    public Task Handle(DatasetVersionCreated integrationEvent, CancellationToken cancellationToken)
    {
        Events.Enqueue(integrationEvent);
        return Task.CompletedTask;
    }
}

/// <summary>An OpenLineage HTTP receiver on 127.0.0.1: keeps every posted RunEvent.</summary>
public sealed class OpenLineageReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly CancellationTokenSource _stop = new();

    public OpenLineageReceiver()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        Url = $"http://127.0.0.1:{port}/api/v1/lineage/";
        _listener.Prefixes.Add(Url);
        _listener.Start();
        _ = Task.Run(LoopAsync);
    }

    public string Url { get; }

    public ConcurrentQueue<JsonObject> Events { get; } = new();

    public ConcurrentQueue<string> ContentTypes { get; } = new();

    private async Task LoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }

            using (var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8))
            {
                var body = await reader.ReadToEndAsync();
                if (JsonNode.Parse(body) is JsonObject json)
                {
                    Events.Enqueue(json);
                    ContentTypes.Enqueue(context.Request.ContentType ?? string.Empty);
                }
            }

            context.Response.StatusCode = 201;
            context.Response.Close();
        }
    }

    /// <summary>The events of one OpenLineage run or of one workflow run (parent facet), waiting up to 30 s for <paramref name="count"/>.</summary>
    public async Task<List<JsonObject>> WaitForAsync(Func<JsonObject, bool> match, int count)
    {
        var until = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var found = Events.Where(match).ToList();
            if (found.Count >= count || DateTime.UtcNow > until)
            {
                return found;
            }

            await Task.Delay(50);
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Close();
        _stop.Dispose();
    }
}

/// <summary>Calls of the data API as a client makes them.</summary>
internal static class DataApi
{
    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    public static Task<HttpResponseMessage> CreateDataset(HttpClient client, string project, string name, object? schema = null) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/datasets", new { name, description = "test data", schema });

    public static Task<HttpResponseMessage> Upload(HttpClient client, string project, string name, byte[] bytes, string contentType = "text/csv", string? format = null)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return client.PostAsync($"/api/v1/projects/{project}/datasets/{name}/versions" + (format is null ? string.Empty : $"?format={format}"), content);
    }

    public static Task<HttpResponseMessage> UploadMultipart(HttpClient client, string project, string name, byte[] bytes, string fileName)
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", fileName);
        return client.PostAsync($"/api/v1/projects/{project}/datasets/{name}/versions", form);
    }

    /// <summary>Creates a dataset and uploads one CSV; returns its first version.</summary>
    public static async Task<(string Name, JsonElement Version)> DatasetWith(HttpClient client, string project, string csv, string prefix = "ds")
    {
        var name = NewName(prefix);
        await Json(await CreateDataset(client, project, name), HttpStatusCode.Created);
        var version = await Json(await Upload(client, project, name, Encoding.UTF8.GetBytes(csv)), HttpStatusCode.Created);
        return (name, version);
    }

    public static Task<HttpResponseMessage> CreateSuite(HttpClient client, string project, string name, object rules) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/quality/suites", new { name, rules });

    public static Task<HttpResponseMessage> RunSuite(HttpClient client, string project, string dataset, string suite) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/quality/runs", new { dataset, suite });

    public static Task<HttpResponseMessage> Transform(HttpClient client, string project, object spec) =>
        client.PostAsync($"/api/v1/projects/{project}/transforms", new StringContent(JsonSerializer.Serialize(spec), Encoding.UTF8, "application/json"));

    public static async Task<JsonElement> Json(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        if (text.Length == 0)
        {
            return default;
        }

        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    public static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode expected)
    {
        var problem = await Json(response, expected);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        return problem;
    }

    public static async Task<List<string>> StoredKeys(PlatformFactory factory, string prefix)
    {
        var store = factory.Services.GetRequiredService<IObjectStore>();
        var keys = new List<string>();
        await foreach (var info in store.ListAsync(prefix))
        {
            keys.Add(info.Key);
        }

        return keys;
    }

    /// <summary>A column of a profile by name.</summary>
    public static JsonElement Column(JsonElement version, string name) =>
        version.GetProperty("profile").GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("name").GetString() == name);
}
