using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Host;

/// <summary>With an OTLP endpoint configured, request traces reach a collector.</summary>
public sealed class TracingTests
{
    [Fact]
    public async Task Given_otlp_endpoint_When_requests_are_served_Then_spans_are_exported_to_the_collector()
    {
        var received = new ConcurrentQueue<(string Path, string ContentType, int Length)>();
        var port = StartupTests.FreePort();
        var collectorBuilder = WebApplication.CreateSlimBuilder();
        collectorBuilder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var collector = collectorBuilder.Build();
        collector.MapPost("/v1/traces", async (HttpRequest request) =>
        {
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body);
            received.Enqueue((request.Path, request.ContentType ?? string.Empty, (int)body.Length));
            return Results.Ok();
        });
        await collector.StartAsync();

        await using (var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["Observability:Otlp:Endpoint"] = $"http://127.0.0.1:{port}",
            ["Observability:Otlp:Protocol"] = "http/protobuf",
        }))
        {
            using var client = factory.CreateClient();
            (await client.GetAsync("/openapi/v1.json")).EnsureSuccessStatusCode();
            (await client.GetAsync("/no-such-route")).StatusCode.ShouldBe(System.Net.HttpStatusCode.NotFound);
        }

        // Disposing the host flushes the exporter; allow the collector a moment to read the post.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (received.IsEmpty && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        received.ShouldNotBeEmpty();
        received.ShouldAllBe(r => r.ContentType == "application/x-protobuf" && r.Length > 0);
    }
}
