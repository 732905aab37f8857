using System.Net;
using MlPlatform.Gateway.Contracts;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>With <c>Gateway:RateLimits:Enabled=false</c> nothing is refused, and endpoints that name the auth policy still work.</summary>
public sealed class RateLimitsOffTests : IAsyncLifetime
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-gateway-off-" + Guid.NewGuid().ToString("N")[..10]);
    private InProcessHost _host = null!;

    public async Task InitializeAsync() =>
        _host = await InProcessHost.StartAsync(DatabaseProvider.Sqlite, _dataDirectory, null, [new EdgeProbeModule()],
            EdgeHost.Settings(new Dictionary<string, string?> { ["Gateway:RateLimits:Enabled"] = "false" }));

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        Directory.Delete(_dataDirectory, recursive: true);
    }

    [Fact]
    public async Task Given_rate_limits_disabled_Then_no_request_is_refused_and_no_rate_limit_headers_are_sent()
    {
        for (var i = 0; i < EdgeHost.AnonymousLimit * 2; i++)
        {
            using var request = EdgeHost.Request(HttpMethod.Post, "/test/edge/login", peer: "192.0.2.70");
            var response = await _host.Client.SendAsync(request);

            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            EdgeHost.Header(response, EdgeHeaders.RateLimitLimit).ShouldBeNull();
        }
    }
}
