using System.Net.Http.Json;
using MlPlatform.Gateway.Contracts;
using static MlPlatform.IntegrationTests.Gateway.EdgeHost;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>Every response names its correlation id: the caller's when safe, the trace id otherwise.</summary>
[Collection(EdgeHostCollection.Name)]
public sealed class CorrelationIdTests(EdgeHost edge)
{
    private sealed record ContextProbe(string? Logged, string? Tagged);

    private async Task<HttpResponseMessage> Send(string path, string? correlationId = null, string? traceParent = null)
    {
        using var request = Request(HttpMethod.Get, path);
        if (correlationId is not null)
        {
            request.Headers.TryAddWithoutValidation(EdgeHeaders.CorrelationId, correlationId);
        }

        if (traceParent is not null)
        {
            request.Headers.Add("traceparent", traceParent);
        }

        return await edge.Client.SendAsync(request);
    }

    [Theory]
    [InlineData("order-42_retry.1")]
    [InlineData("0123456789012345678901234567890123456789012345678901234567890123")]
    public async Task Given_safe_correlation_id_Then_it_is_echoed_logged_and_tagged(string id)
    {
        var response = await Send("/test/edge/context", id);

        Header(response, EdgeHeaders.CorrelationId).ShouldBe(id);
        var probe = await response.Content.ReadFromJsonAsync<ContextProbe>();
        probe.ShouldBe(new ContextProbe(id, id));
    }

    [Theory]
    [InlineData("has spaces in it")]
    [InlineData("<script>alert(1)</script>")]
    [InlineData("line\u00e9break")]
    [InlineData("01234567890123456789012345678901234567890123456789012345678901234")]
    public async Task Given_unsafe_correlation_id_Then_it_is_replaced_by_a_generated_one(string id)
    {
        var response = await Send("/test/edge/ping", id);

        var echoed = Header(response, EdgeHeaders.CorrelationId);
        echoed.ShouldNotBe(id);
        echoed!.ShouldMatch("^[0-9a-f]{32}$");
    }

    [Fact]
    public async Task Given_no_correlation_id_Then_the_trace_id_is_used()
    {
        const string traceId = "0af7651916cd43dd8448eb211c80319c";

        var traced = await Send("/test/edge/context", traceParent: $"00-{traceId}-b7ad6b7169203331-01");
        var untraced = await Send("/test/edge/ping");

        Header(traced, EdgeHeaders.CorrelationId).ShouldBe(traceId);
        (await traced.Content.ReadFromJsonAsync<ContextProbe>()).ShouldBe(new ContextProbe(traceId, traceId));
        Header(untraced, EdgeHeaders.CorrelationId)!.ShouldMatch("^[0-9a-f]{32}$");
    }

    [Fact]
    public async Task Given_two_requests_without_ids_Then_each_gets_its_own()
    {
        var first = Header(await Send("/test/edge/ping"), EdgeHeaders.CorrelationId);
        var second = Header(await Send("/test/edge/ping"), EdgeHeaders.CorrelationId);

        first.ShouldNotBe(second);
    }
}
