using System.Net;
using System.Text.Json;
using MlPlatform.Gateway.Contracts;
using static MlPlatform.IntegrationTests.Gateway.EdgeHost;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>The global limiter per principal or address, the stricter auth policy, and what a refusal looks like.</summary>
[Collection(EdgeHostCollection.Name)]
public sealed class RateLimitTests(EdgeHost edge)
{
    [Fact]
    public async Task Given_anonymous_client_over_its_limit_Then_returns_429_problem_with_retry_after_and_rate_limit_headers()
    {
        const string peer = "192.0.2.10";
        for (var i = 1; i <= AnonymousLimit; i++)
        {
            var accepted = await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer);

            accepted.StatusCode.ShouldBe(HttpStatusCode.OK);
            Header(accepted, EdgeHeaders.RateLimitLimit).ShouldBe(AnonymousLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Header(accepted, EdgeHeaders.RateLimitRemaining).ShouldBe((AnonymousLimit - i).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var refused = await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer);

        refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        refused.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        using var problem = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("status").GetInt32().ShouldBe(429);
        problem.RootElement.GetProperty("title").GetString().ShouldNotBeNullOrWhiteSpace();
        problem.RootElement.TryGetProperty("traceId", out _).ShouldBeTrue();
        // One token per hour is configured: the next one is an hour away.
        refused.Headers.RetryAfter?.Delta.ShouldBe(TimeSpan.FromHours(1));
        Header(refused, EdgeHeaders.RateLimitLimit).ShouldBe(AnonymousLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Header(refused, EdgeHeaders.RateLimitRemaining).ShouldBe("0");
        Header(refused, EdgeHeaders.RateLimitReset).ShouldBe("3600");
        Header(refused, EdgeHeaders.CorrelationId).ShouldNotBeNullOrEmpty();
        Header(refused, "X-Content-Type-Options").ShouldBe("nosniff");
    }

    [Fact]
    public async Task Given_two_principals_behind_one_address_Then_each_has_its_own_budget()
    {
        const string peer = "192.0.2.20";
        for (var i = 0; i < AuthenticatedLimit; i++)
        {
            (await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer, subject: "alice")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer, subject: "alice")).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        var bob = await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer, subject: "bob");
        bob.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await bob.Content.ReadAsStringAsync()).ShouldContain("bob");
        Header(bob, EdgeHeaders.RateLimitLimit).ShouldBe(AuthenticatedLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Header(bob, EdgeHeaders.RateLimitRemaining).ShouldBe((AuthenticatedLimit - 1).ToString(System.Globalization.CultureInfo.InvariantCulture));
        // The address's anonymous budget was not touched by either principal.
        (await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Given_same_principal_from_two_addresses_Then_both_draw_from_one_budget()
    {
        for (var i = 0; i < AuthenticatedLimit; i++)
        {
            var peer = i % 2 == 0 ? "192.0.2.30" : "192.0.2.31";
            (await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer, subject: "carol")).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        (await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", "192.0.2.32", subject: "carol")).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
    }

    [Theory]
    [InlineData("/health/live")]
    [InlineData("/metrics")]
    public async Task Given_probes_and_scrapes_Then_they_are_never_limited(string path)
    {
        const string peer = "192.0.2.40";
        for (var i = 0; i < AnonymousLimit * 2; i++)
        {
            var response = await edge.SendAsync(HttpMethod.Get, path, peer);

            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            Header(response, EdgeHeaders.RateLimitLimit).ShouldBeNull();
        }
    }

    [Fact]
    public async Task Given_auth_policy_endpoint_Then_its_stricter_limit_applies_per_address()
    {
        const string peer = "192.0.2.50";
        for (var i = 1; i <= AuthLimit; i++)
        {
            var accepted = await edge.SendAsync(HttpMethod.Post, "/test/edge/login", peer);

            accepted.StatusCode.ShouldBe(HttpStatusCode.OK);
            // The headers describe the bucket closest to running out: the auth one.
            Header(accepted, EdgeHeaders.RateLimitLimit).ShouldBe(AuthLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Header(accepted, EdgeHeaders.RateLimitRemaining).ShouldBe((AuthLimit - i).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var refused = await edge.SendAsync(HttpMethod.Post, "/test/edge/login", peer);

        refused.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);
        Header(refused, EdgeHeaders.RateLimitLimit).ShouldBe(AuthLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
        refused.Headers.RetryAfter?.Delta.ShouldBe(TimeSpan.FromMinutes(30));
        // Other endpoints still answer this address (within the global budget); other addresses may still log in.
        (await edge.SendAsync(HttpMethod.Get, "/test/edge/ping", peer)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await edge.SendAsync(HttpMethod.Post, "/test/edge/login", "192.0.2.51")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Given_trusted_proxy_Then_the_forwarded_client_address_is_the_partition()
    {
        // 10.1.2.3 is inside Gateway:ForwardedHeaders:KnownNetworks, so X-Forwarded-For is believed.
        for (var i = 0; i < AnonymousLimit; i++)
        {
            using var request = Request(HttpMethod.Get, "/test/edge/ping", peer: "10.1.2.3");
            request.Headers.Add("X-Forwarded-For", "203.0.113.7");
            (await edge.Client.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        using var sameClient = Request(HttpMethod.Get, "/test/edge/ping", peer: "10.1.2.3");
        sameClient.Headers.Add("X-Forwarded-For", "203.0.113.7");
        (await edge.Client.SendAsync(sameClient)).StatusCode.ShouldBe(HttpStatusCode.TooManyRequests);

        using var otherClient = Request(HttpMethod.Get, "/test/edge/ping", peer: "10.1.2.3");
        otherClient.Headers.Add("X-Forwarded-For", "203.0.113.8");
        (await edge.Client.SendAsync(otherClient)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Given_untrusted_peer_Then_a_forged_forwarded_address_does_not_buy_a_new_budget()
    {
        for (var i = 0; i <= AnonymousLimit; i++)
        {
            using var request = Request(HttpMethod.Get, "/test/edge/ping", peer: "192.0.2.60");
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{100 + i}");
            var response = await edge.Client.SendAsync(request);

            response.StatusCode.ShouldBe(i < AnonymousLimit ? HttpStatusCode.OK : HttpStatusCode.TooManyRequests);
        }
    }
}
