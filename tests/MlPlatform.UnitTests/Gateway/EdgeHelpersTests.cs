using MlPlatform.Gateway.CorrelationIds;
using MlPlatform.Gateway.SecurityHeaders;

namespace MlPlatform.UnitTests.Gateway;

public sealed class EdgeHelpersTests
{
    [Fact]
    public void Given_page_with_inline_and_external_scripts_Then_only_inline_ones_are_hashed()
    {
        const string html = "<script src=\"a.js\"></script><script type=\"module\">run()</script><SCRIPT>x</SCRIPT><script></script>";

        var hashes = SecurityHeadersMiddleware.HashInlineScripts(html);

        // sha256 of "run()" and of "x", base64.
        hashes.ShouldBe(["'sha256-AvyuiL0SD1mVY3NNxR+V2uo+lhk6RMFrytWmRt6CrJQ='", "'sha256-LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE='"]);
    }

    [Theory]
    [InlineData("default-src 'none'; script-src 'self'; style-src 'self'", "default-src 'none'; script-src 'self' 'sha256-A'; style-src 'self'")]
    [InlineData("default-src 'none'", "default-src 'none'")]
    public void Given_policy_Then_hashes_join_its_script_src_directive(string policy, string expected)
    {
        SecurityHeadersMiddleware.WithScriptHashes(policy, ["'sha256-A'"]).ShouldBe(expected);
    }

    [Theory]
    [InlineData("abc-DEF_123.x", true)]
    [InlineData("", false)]
    [InlineData("a b", false)]
    [InlineData("a\r\nInjected: 1", false)]
    [InlineData("é", false)]
    public void Given_correlation_id_Then_only_short_plain_values_are_safe(string value, bool safe)
    {
        CorrelationIdMiddleware.IsSafe(value).ShouldBe(safe);
    }
}
