using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>
/// One host for the edge tests, with small limits so that tests reach them in a few requests.
/// Only the probe module runs: the edge must not depend on the Gateway module being enabled.
/// Tests keep out of each other's way by using their own client addresses and principals.
/// </summary>
public sealed class EdgeHost : IAsyncLifetime
{
    public const long GlobalBodyLimit = 4096;
    public const int AnonymousLimit = 5;
    public const int AuthenticatedLimit = 8;
    public const int AuthLimit = 2;
    public const string AllowedOrigin = "https://app.example.com";
    public const string TrustedNetwork = "10.0.0.0/8";

    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-gateway-" + Guid.NewGuid().ToString("N")[..10]);
    private InProcessHost? _host;

    public InProcessHost Host => _host ?? throw new InvalidOperationException("not started");

    public HttpClient Client => Host.Client;

    public static Dictionary<string, string?> Settings(IDictionary<string, string?>? overrides = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Modules:Enabled"] = "EdgeProbe",
            ["Gateway:MaxRequestBodyBytes"] = GlobalBodyLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // No refill during a test: the limits are exact counts.
            ["Gateway:RateLimits:Anonymous:PermitLimit"] = AnonymousLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:RateLimits:Anonymous:TokensPerPeriod"] = "1",
            ["Gateway:RateLimits:Anonymous:ReplenishmentPeriod"] = "01:00:00",
            ["Gateway:RateLimits:Authenticated:PermitLimit"] = AuthenticatedLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:RateLimits:Authenticated:TokensPerPeriod"] = "1",
            ["Gateway:RateLimits:Authenticated:ReplenishmentPeriod"] = "01:00:00",
            ["Gateway:RateLimits:Auth:PermitLimit"] = AuthLimit.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Gateway:RateLimits:Auth:TokensPerPeriod"] = "1",
            ["Gateway:RateLimits:Auth:ReplenishmentPeriod"] = "00:30:00",
            ["Gateway:Cors:AllowedOrigins"] = AllowedOrigin,
            ["Gateway:ForwardedHeaders:Enabled"] = "true",
            ["Gateway:ForwardedHeaders:KnownNetworks"] = TrustedNetwork,
            ["Gateway:Outbound:TotalTimeout"] = "00:00:05",
            ["Gateway:Outbound:AttemptTimeout"] = "00:00:01",
            ["Gateway:Outbound:MaxRetries"] = "2",
            ["Gateway:Outbound:RetryDelay"] = "00:00:00.010",
            ["Gateway:Outbound:CircuitBreaker:FailureRatio"] = "0.5",
            ["Gateway:Outbound:CircuitBreaker:MinimumThroughput"] = "4",
            ["Gateway:Outbound:CircuitBreaker:SamplingDuration"] = "00:00:10",
            ["Gateway:Outbound:CircuitBreaker:BreakDuration"] = "00:00:30",
        };
        foreach (var (key, value) in overrides ?? new Dictionary<string, string?>())
        {
            settings[key] = value;
        }

        return settings;
    }

    public async Task InitializeAsync() =>
        _host = await InProcessHost.StartAsync(DatabaseProvider.Sqlite, _dataDirectory, null, [new EdgeProbeModule()], Settings());

    public async Task DisposeAsync()
    {
        if (_host is not null)
        {
            await _host.DisposeAsync();
        }

        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // Nothing was written.
        }
    }

    /// <summary>A request from a given client address, optionally as an authenticated principal.</summary>
    public static HttpRequestMessage Request(HttpMethod method, string path, string? peer = null, string? subject = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (peer is not null)
        {
            request.Headers.Add(EdgeProbeModule.PeerHeader, peer);
        }

        if (subject is not null)
        {
            request.Headers.Add(EdgeProbeModule.SubjectHeader, subject);
        }

        return request;
    }

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, string? peer = null, string? subject = null)
    {
        using var request = Request(method, path, peer, subject);
        return await Client.SendAsync(request);
    }

    public static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var values) || response.Content.Headers.TryGetValues(name, out values)
            ? string.Join(", ", values)
            : null;
}

[CollectionDefinition(Name)]
public sealed class EdgeHostCollection : ICollectionFixture<EdgeHost>
{
    public const string Name = "Gateway edge host";
}
