using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.IntegrationTests.ModelRegistry;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Tests.Onnx;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>
/// One host per database provider for a test class, with the accounts of <see cref="WorkflowTestAccounts"/>
/// (admin owns the project and approves, Maintainer deploys, Viewer reads, the outsider has a project
/// of their own), a small inference body limit and a quick refresh of the routing tables.
/// </summary>
public class PredictionHostsFixture : IAsyncLifetime
{
    public const long MaxRequestBytes = 32 * 1024;

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

    /// <summary>Settings a derived fixture adds to (or overrides in) the host's configuration.</summary>
    protected virtual IEnumerable<KeyValuePair<string, string?>> ExtraSettings => [];

    /// <summary>Test-only services a derived fixture adds to the host (a clock, a client address).</summary>
    protected virtual void ConfigureServices(Microsoft.Extensions.DependencyInjection.IServiceCollection services)
    {
    }

    private async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Predictions:MaxRequestBytes"] = MaxRequestBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Predictions:RefreshInterval"] = "00:00:00.500",
            ["Gateway:RateLimits:Enabled"] = "false",
        };
        foreach (var (key, value) in ExtraSettings)
        {
            settings[key] = value;
        }

        var factory = await PlatformFactory.CreateAsync(provider, settings, ConfigureServices);
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

/// <summary>Calls of the prediction API as a client makes them, and the reference the tests compare with.</summary>
internal static class PredictionApi
{
    public static readonly float[] Weights = RegistryApi.Weights;

    /// <summary>Version v of a model made by <see cref="ModelWithVersions"/> has bias v − 1.</summary>
    public static float Bias(int version) => version - 1;

    public static float Expected(int version, float[] row) => OnnxModelWriter.Expected(Weights, Bias(version), row);

    public static Task<string> ModelWithVersions(WorkflowTestAccounts api, int versions) =>
        RegistryApi.ModelWithVersions(api.Maintainer, api.Project, versions);

    public static async Task Approve(WorkflowTestAccounts api, string model, int version) =>
        await RegistryApi.Json(await api.Admin.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{model}/versions/{version}/approve", new { comment = "ok" }), HttpStatusCode.OK);

    public static async Task MoveAlias(WorkflowTestAccounts api, string model, string alias, int version) =>
        await RegistryApi.Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/models/{model}/aliases/{alias}", new { version }), HttpStatusCode.OK);

    public static Task<HttpResponseMessage> Create(HttpClient client, string project, object spec) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/endpoints", spec);

    public static async Task<string> Endpoint(WorkflowTestAccounts api, Func<string, object> spec)
    {
        var name = RegistryApi.NewName("ep");
        await RegistryApi.Json(await Create(api.Maintainer, api.Project, spec(name)), HttpStatusCode.Created);
        return name;
    }

    public static object V2Body(params float[][] rows) => new
    {
        inputs = new[] { new { name = "x", shape = new[] { rows.Length, 3 }, datatype = "FP32", data = rows } },
    };

    public static Task<HttpResponseMessage> Infer(HttpClient client, string endpoint, object body, string? variant = null, string? key = null, string? path = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path ?? $"/v2/models/{endpoint}/infer")
        {
            Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        if (variant is not null)
        {
            request.Headers.Add("X-Variant", variant);
        }

        if (key is not null)
        {
            request.Headers.Add("X-Request-Key", key);
        }

        return client.SendAsync(request);
    }

    /// <summary>A V2 request with the binary tensor data extension: the JSON, its length in the header, then the tensors' bytes; sent with the content type a client chose (none, as tritonclient sends it, by default).</summary>
    public static Task<HttpResponseMessage> InferBinary(HttpClient client, string endpoint, string json, byte[] binary, string? contentType = null, string? jsonLength = null)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var content = new ByteArrayContent([.. header, .. binary]);
        if (contentType is not null)
        {
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue(contentType);
        }

        var request = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{endpoint}/infer") { Content = content };
        request.Headers.Add("Inference-Header-Content-Length", jsonLength ?? header.Length.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return client.SendAsync(request);
    }

    /// <summary>An answer with the binary extension: its JSON part, and each binary output's bytes by name, cut in the order of the outputs.</summary>
    public static async Task<(JsonElement Json, Dictionary<string, byte[]> Binary)> BinaryAnswer(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsByteArrayAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, Encoding.UTF8.GetString(body));
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/octet-stream");
        var jsonLength = int.Parse(response.Headers.GetValues("Inference-Header-Content-Length").Single(), System.Globalization.CultureInfo.InvariantCulture);
        var json = JsonDocument.Parse(body.AsMemory(0, jsonLength)).RootElement.Clone();
        var sections = new Dictionary<string, byte[]>();
        var offset = jsonLength;
        foreach (var output in json.GetProperty("outputs").EnumerateArray())
        {
            if (output.TryGetProperty("parameters", out var p) && p.TryGetProperty("binary_data_size", out var size))
            {
                sections[output.GetProperty("name").GetString()!] = body[offset..(offset + size.GetInt32())];
                offset += size.GetInt32();
            }
        }

        offset.ShouldBe(body.Length, "the binary sections fill the rest of the answer");
        return (json, sections);
    }

    public static float[] Output(JsonElement response, string name = "y") =>
        response.GetProperty("outputs").EnumerateArray().Single(o => o.GetProperty("name").GetString() == name)
            .GetProperty("data").EnumerateArray().Select(x => x.GetSingle()).ToArray();

    /// <summary>A V2 error: the status, a JSON body {"error": "..."}; the message is returned.</summary>
    public static async Task<string> Error(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        using var body = JsonDocument.Parse(text);
        return body.RootElement.GetProperty("error").GetString()!;
    }

    public static string Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) ? values.Single() : throw new ShouldAssertException($"No {name} header");
}
