using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;

namespace MlPlatform.IntegrationTests.Host;

/// <summary>SIGTERM lets in-flight requests finish before the process exits cleanly.</summary>
public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task Given_request_in_flight_When_host_receives_SIGTERM_Then_the_request_completes_and_the_host_exits_zero()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        await using var node = ClusterNode.Start("graceful", database.ConnectionString, "--Platform:ShutdownTimeout=00:00:20");
        await node.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        using var client = new HttpClient { BaseAddress = node.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };

        var inFlight = client.GetAsync("/probe/sleep?ms=3000");
        // SIGTERM only once the request is in the host's hands, however slow the machine.
        (await Polling.UntilAsync(
            async () => (await client.GetFromJsonAsync<JsonElement>("/probe/sleeping")).GetProperty("arrived").GetInt32(),
            arrived => arrived > 0)).ShouldBe(1);
        var exitCode = node.TerminateAsync(TimeSpan.FromSeconds(30));

        var response = await inFlight;
        response.StatusCode.ShouldBe(HttpStatusCode.OK, node.Output());
        (await response.Content.ReadAsStringAsync()).ShouldContain("3000");
        (await exitCode).ShouldBe(0, node.Output());
    }
}
