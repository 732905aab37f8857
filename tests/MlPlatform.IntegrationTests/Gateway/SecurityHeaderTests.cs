using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.TestHost;
using static MlPlatform.IntegrationTests.Gateway.EdgeHost;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>Security headers on every response; a CSP that allows nothing for the API and just enough for /docs.</summary>
[Collection(EdgeHostCollection.Name)]
public sealed partial class SecurityHeaderTests(EdgeHost edge)
{
    private const string ApiPolicy = "default-src 'none'; frame-ancestors 'none'";

    private static void ShouldHaveSecurityHeaders(HttpResponseMessage response)
    {
        Header(response, "X-Content-Type-Options").ShouldBe("nosniff");
        Header(response, "X-Frame-Options").ShouldBe("DENY");
        Header(response, "Referrer-Policy").ShouldBe("no-referrer");
        Header(response, "Cross-Origin-Opener-Policy").ShouldBe("same-origin");
        Header(response, "Permissions-Policy")!.ShouldContain("camera=()");
        Header(response, "Content-Security-Policy").ShouldNotBeNullOrEmpty();
        Header(response, "X-Correlation-Id").ShouldNotBeNullOrEmpty();
    }

    [Fact]
    public async Task Given_ok_response_Then_it_carries_the_security_headers_and_the_strict_api_policy()
    {
        var response = await edge.SendAsync(HttpMethod.Get, "/test/edge/ping");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        ShouldHaveSecurityHeaders(response);
        Header(response, "Content-Security-Policy").ShouldBe(ApiPolicy);
        Header(response, "Strict-Transport-Security").ShouldBeNull();
    }

    [Theory]
    [InlineData("/api/v1/no-such-thing", HttpStatusCode.NotFound)]
    [InlineData("/test/edge/fail", HttpStatusCode.InternalServerError)]
    public async Task Given_error_problem_Then_it_carries_the_security_headers_too(string path, HttpStatusCode status)
    {
        var response = await edge.SendAsync(HttpMethod.Get, path);

        response.StatusCode.ShouldBe(status);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        ShouldHaveSecurityHeaders(response);
        Header(response, "Content-Security-Policy").ShouldBe(ApiPolicy);
    }

    [Fact]
    public async Task Given_https_request_Then_strict_transport_security_is_sent()
    {
        using var client = edge.Host.App.GetTestServer().CreateClient();
        client.BaseAddress = new Uri("https://localhost/");

        var response = await client.GetAsync("/test/edge/ping");

        Header(response, "Strict-Transport-Security").ShouldBe("max-age=31536000; includeSubDomains");
    }

    [Fact]
    public async Task Given_docs_page_Then_its_policy_allows_its_own_scripts_and_its_inline_bootstrap_by_hash_only()
    {
        var page = await edge.SendAsync(HttpMethod.Get, "/docs/");

        page.StatusCode.ShouldBe(HttpStatusCode.OK);
        ShouldHaveSecurityHeaders(page);
        var html = await page.Content.ReadAsStringAsync();
        var policy = Header(page, "Content-Security-Policy")!;
        var scriptSources = policy.Split(';').Select(d => d.Trim()).Single(d => d.StartsWith("script-src ", StringComparison.Ordinal));
        scriptSources.ShouldContain("'self'");
        scriptSources.ShouldNotContain("unsafe-inline");
        scriptSources.ShouldNotContain("unsafe-eval");
        policy.ShouldContain("connect-src 'self'");
        policy.ShouldContain("frame-ancestors 'none'");

        // Every script the page loads comes from this host (allowed by 'self') and answers...
        var sources = ScriptSource().Matches(html).Select(m => m.Groups[1].Value).ToList();
        sources.ShouldNotBeEmpty();
        sources.ShouldAllBe(s => !s.Contains("://", StringComparison.Ordinal));
        foreach (var source in sources)
        {
            (await edge.SendAsync(HttpMethod.Get, "/docs/" + source)).StatusCode.ShouldBe(HttpStatusCode.OK);
        }

        // ...and every inline script is allowed by its hash.
        var inline = InlineScript().Matches(html).Select(m => m.Groups[1].Value).Where(s => s.Length > 0).ToList();
        inline.ShouldNotBeEmpty();
        foreach (var script in inline)
        {
            scriptSources.ShouldContain($"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(script)))}'");
        }
    }

    [GeneratedRegex("<script[^>]*\\ssrc=\"([^\"]+)\"")]
    private static partial Regex ScriptSource();

    [GeneratedRegex("<script(?![^>]*\\ssrc=)[^>]*>(.*?)</script>", RegexOptions.Singleline)]
    private static partial Regex InlineScript();
}
