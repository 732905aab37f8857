using System.Net;
using MlPlatform.Gateway.Contracts;
using static MlPlatform.IntegrationTests.Gateway.EdgeHost;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>Browsers on the configured origins may call the API and read its edge headers; others may not.</summary>
[Collection(EdgeHostCollection.Name)]
public sealed class CorsTests(EdgeHost edge)
{
    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/test/edge/bytes");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        request.Headers.Add("Access-Control-Request-Headers", "content-type, x-correlation-id");
        return request;
    }

    [Fact]
    public async Task Given_preflight_from_allowed_origin_Then_it_is_allowed()
    {
        using var request = Preflight(AllowedOrigin);

        var response = await edge.Client.SendAsync(request);

        response.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        Header(response, "Access-Control-Allow-Origin").ShouldBe(AllowedOrigin);
        Header(response, "Access-Control-Allow-Methods")!.ShouldContain("POST");
        Header(response, "Access-Control-Allow-Headers")!.ToLowerInvariant().ShouldContain("x-correlation-id");
        Header(response, "Access-Control-Max-Age").ShouldBe("600");
        Header(response, "Access-Control-Allow-Credentials").ShouldBeNull();
    }

    [Fact]
    public async Task Given_preflight_from_another_origin_Then_no_cors_headers_are_sent()
    {
        using var request = Preflight("https://evil.example.net");

        var response = await edge.Client.SendAsync(request);

        response.Headers.Any(h => h.Key.StartsWith("Access-Control-", StringComparison.OrdinalIgnoreCase)).ShouldBeFalse();
    }

    [Fact]
    public async Task Given_request_from_allowed_origin_Then_correlation_and_rate_limit_headers_are_exposed()
    {
        using var request = Request(HttpMethod.Get, "/test/edge/ping");
        request.Headers.Add("Origin", AllowedOrigin);

        var response = await edge.Client.SendAsync(request);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        Header(response, "Access-Control-Allow-Origin").ShouldBe(AllowedOrigin);
        var exposed = Header(response, "Access-Control-Expose-Headers")!;
        foreach (var header in new[] { EdgeHeaders.CorrelationId, EdgeHeaders.RetryAfter, EdgeHeaders.RateLimitLimit, EdgeHeaders.RateLimitRemaining, EdgeHeaders.RateLimitReset })
        {
            exposed.ShouldContain(header);
        }
    }
}
