using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.IntegrationTests.Host;
using Polly.CircuitBreaker;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>
/// HttpClients from the host's IHttpClientFactory retry transient failures and stop calling a
/// server that keeps failing, against a real Kestrel server on loopback.
/// </summary>
[Collection(EdgeHostCollection.Name)]
public sealed class OutboundTests(EdgeHost edge)
{
    /// <summary>A server that fails its first <c>failures</c> requests with 503 (forever when negative).</summary>
    private sealed class FlakyServer : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private int _hits;

        private FlakyServer(WebApplication app) => _app = app;

        public int Hits => Volatile.Read(ref _hits);

        public Uri Address { get; private init; } = null!;

        public static async Task<FlakyServer> StartAsync(int failures)
        {
            var port = StartupTests.FreePort();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
            builder.Logging.ClearProviders();
            var app = builder.Build();
            var server = new FlakyServer(app) { Address = new Uri($"http://127.0.0.1:{port}/") };
            app.Map("/", () =>
            {
                var hit = Interlocked.Increment(ref server._hits);
                return failures < 0 || hit <= failures ? Results.StatusCode(StatusCodes.Status503ServiceUnavailable) : Results.Ok();
            });
            await app.StartAsync();
            return server;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }

    private HttpClient CreateClient(string name) => edge.Host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(name);

    [Fact]
    public async Task Given_server_failing_twice_Then_a_factory_client_retries_until_it_succeeds()
    {
        await using var server = await FlakyServer.StartAsync(failures: 2);
        using var client = CreateClient("flaky");

        var response = await client.GetAsync(server.Address);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        server.Hits.ShouldBe(3);
    }

    [Fact]
    public async Task Given_post_to_a_failing_server_Then_it_is_not_repeated()
    {
        await using var server = await FlakyServer.StartAsync(failures: 1);
        using var client = CreateClient("flaky-post");

        var response = await client.PostAsync(server.Address, new StringContent("{}"));

        response.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        server.Hits.ShouldBe(1);
    }

    [Fact]
    public async Task Given_server_that_keeps_failing_Then_the_circuit_opens_and_calls_fail_without_reaching_it()
    {
        await using var server = await FlakyServer.StartAsync(failures: -1);
        using var client = CreateClient("down");

        // Each call makes up to three attempts; four failures (half or more of the calls) open the circuit.
        var opened = false;
        for (var call = 0; call < 5 && !opened; call++)
        {
            try
            {
                (await client.GetAsync(server.Address)).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            }
            catch (BrokenCircuitException)
            {
                opened = true;
            }
        }

        opened.ShouldBeTrue();
        var hits = server.Hits;
        hits.ShouldBeGreaterThanOrEqualTo(4);
        await Should.ThrowAsync<BrokenCircuitException>(() => client.GetAsync(server.Address));
        server.Hits.ShouldBe(hits);
    }
}
