using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Tests.Onnx;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>
/// One host per database provider for a test class, with the accounts of <see cref="WorkflowTestAccounts"/>
/// (the admin owns the project and is its approver; the maintainer is not an approver) and a small
/// upload limit, so 413 needs only a small body; with a test <see cref="IModelVersionServing"/> and
/// the <c>test.write_onnx</c> step type. Tests use their own model names.
/// </summary>
public sealed class ModelRegistryHostsFixture : IAsyncLifetime
{
    public const long MaxUploadBytes = 64 * 1024;

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

    private static async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider)
    {
        var factory = await PlatformFactory.CreateAsync(
            provider,
            new Dictionary<string, string?>
            {
                ["ModelRegistry:MaxUploadBytes"] = MaxUploadBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
                // Long enough that no test passes by an entry expiring: reads after writes must see
                // the write because the write (or its event) invalidated the cache.
                ["ModelRegistry:LookupCacheTtl"] = "00:10:00",
                // Nor by this host following its own outbox: tests here say when an event is delivered.
                // Following is tested with two hosts (TwoHostCacheTests).
                ["ModelRegistry:InvalidationPollInterval"] = "00:00:00",
                ["ModelRegistry:PromotePollInterval"] = "00:00:00.200",
            },
            services =>
            {
                // Predictions implements the serving contract on its own branch; tests say what is served.
                services.AddSingleton<TestModelServing>();
                services.AddSingleton<IModelVersionServing>(sp => sp.GetRequiredService<TestModelServing>());
                services.AddStepType<WriteOnnxStep>();
            });
        return await WorkflowTestAccounts.CreateAsync(factory);
    }

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

/// <summary>Calls of the registry API as a client makes them.</summary>
internal static class RegistryApi
{
    public static readonly float[] Weights = [0.5f, -1.25f, 2f];

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    public static byte[] Model(float bias = 0.25f) => OnnxModelWriter.LogisticRegression(Weights, bias, metadata: new Dictionary<string, string> { ["team"] = "risk" });

    public static Task<HttpResponseMessage> CreateModel(HttpClient client, string project, string name, string[]? tags = null, string[]? protectedAliases = null) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/models", new { name, description = "test model", tags = tags ?? [], protectedAliases = protectedAliases ?? [] });

    public static Task<HttpResponseMessage> UploadMultipart(HttpClient client, string project, string name, byte[] bytes, string? metrics = null, string? parameters = null)
    {
        var form = new MultipartFormDataContent();
        var file = new ByteArrayContent(bytes);
        file.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        form.Add(file, "file", "model.onnx");
        if (metrics is not null)
        {
            form.Add(new StringContent(metrics), "metrics");
        }

        if (parameters is not null)
        {
            form.Add(new StringContent(parameters), "params");
        }

        form.Add(new StringContent("uploaded by a test"), "description");
        return client.PostAsync($"/api/v1/projects/{project}/models/{name}/versions", form);
    }

    public static Task<HttpResponseMessage> UploadRaw(HttpClient client, string project, string name, byte[] bytes, string contentType = "application/octet-stream")
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return client.PostAsync($"/api/v1/projects/{project}/models/{name}/versions", content);
    }

    /// <summary>Creates a model (as <paramref name="client"/>) and uploads <paramref name="versions"/> versions.</summary>
    public static async Task<string> ModelWithVersions(HttpClient client, string project, int versions, string[]? protectedAliases = null)
    {
        var name = NewName("m");
        await Json(await CreateModel(client, project, name, protectedAliases: protectedAliases), HttpStatusCode.Created);
        for (var i = 0; i < versions; i++)
        {
            await Json(await UploadRaw(client, project, name, Model(i)), HttpStatusCode.Created);
        }

        return name;
    }

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

    /// <summary>The keys in the artifact store that belong to one model.</summary>
    public static async Task<List<string>> StoredKeys(PlatformFactory factory, Guid modelId)
    {
        var store = factory.Services.GetRequiredService<IObjectStore>();
        var keys = new List<string>();
        await foreach (var info in store.ListAsync("models/"))
        {
            if (info.Key.Contains(modelId.ToString("N"), StringComparison.Ordinal))
            {
                keys.Add(info.Key);
            }
        }

        return keys;
    }
}
