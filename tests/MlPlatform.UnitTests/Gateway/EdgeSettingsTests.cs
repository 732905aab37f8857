using Microsoft.Extensions.Configuration;
using MlPlatform.Gateway;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.UnitTests.Gateway;

public sealed class EdgeSettingsTests
{
    private static EdgeSettings Read(params (string Key, string? Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();
        return EdgeSettings.Read(configuration);
    }

    [Fact]
    public void Given_no_settings_Then_the_defaults_apply()
    {
        var settings = Read();

        settings.MaxRequestBodyBytes.ShouldBe(30 * 1024 * 1024);
        settings.RateLimits.Enabled.ShouldBeTrue();
        settings.RateLimits.Authenticated.ShouldBe(new TokenBucketSettings(600, 60, TimeSpan.FromSeconds(1), 0));
        settings.RateLimits.Anonymous.ShouldBe(new TokenBucketSettings(120, 12, TimeSpan.FromSeconds(1), 0));
        settings.RateLimits.Auth.ShouldBe(new TokenBucketSettings(20, 1, TimeSpan.FromSeconds(3), 0));
        settings.Cors.Enabled.ShouldBeFalse();
        settings.ForwardedHeaders.Enabled.ShouldBeFalse();
        settings.SecurityHeaders.ContentSecurityPolicy.ShouldBe("default-src 'none'; frame-ancestors 'none'");
        settings.Outbound.MaxRetries.ShouldBe(3);
    }

    [Fact]
    public void Given_the_shipped_appsettings_Then_they_equal_the_built_in_defaults()
    {
        var file = new ConfigurationBuilder().AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json")).Build();

        EdgeSettings.Read(file).ShouldBeEquivalentTo(Read());
    }

    [Fact]
    public void Given_comma_separated_lists_Then_they_are_read_like_arrays()
    {
        var settings = Read(
            ("Gateway:Cors:AllowedOrigins", "https://a.example.com, https://b.example.com:8443/"),
            ("Gateway:Cors:ExposedHeaders", "X-Total-Count"),
            ("Gateway:ForwardedHeaders:KnownNetworks", "10.0.0.0/8,fd00::/8"));

        settings.Cors.AllowedOrigins.ShouldBe(["https://a.example.com", "https://b.example.com:8443"]);
        settings.Cors.ExposedHeaders.ShouldContain("X-Total-Count");
        settings.Cors.ExposedHeaders.ShouldContain("X-Correlation-Id");
        settings.Cors.ExposedHeaders.ShouldContain("Retry-After");
        settings.ForwardedHeaders.KnownNetworks.Count.ShouldBe(2);
    }

    [Fact]
    public void Given_an_empty_header_setting_Then_that_header_is_left_out()
    {
        Read(("Gateway:SecurityHeaders:PermissionsPolicy", "")).SecurityHeaders.PermissionsPolicy.ShouldBeEmpty();
    }

    [Theory]
    [InlineData("Gateway:MaxRequestBodyBytes", "ten", "Gateway:MaxRequestBodyBytes")]
    [InlineData("Gateway:MaxRequestBodyBytes", "-1", "Gateway:MaxRequestBodyBytes")]
    [InlineData("Gateway:RateLimits:Enabled", "sometimes", "Gateway:RateLimits:Enabled")]
    [InlineData("Gateway:RateLimits:Anonymous:PermitLimit", "0", "Gateway:RateLimits:Anonymous:PermitLimit")]
    [InlineData("Gateway:RateLimits:Authenticated:TokensPerPeriod", "601", "Gateway:RateLimits:Authenticated:TokensPerPeriod")]
    [InlineData("Gateway:RateLimits:Auth:ReplenishmentPeriod", "00:00:00.010", "Gateway:RateLimits:Auth:ReplenishmentPeriod")]
    [InlineData("Gateway:RateLimits:Auth:QueueLimit", "-1", "Gateway:RateLimits:Auth:QueueLimit")]
    [InlineData("Gateway:ForwardedHeaders:KnownProxies", "proxy.local", "Gateway:ForwardedHeaders:KnownProxies")]
    [InlineData("Gateway:ForwardedHeaders:KnownNetworks", "10.0.0.0/33", "Gateway:ForwardedHeaders:KnownNetworks")]
    [InlineData("Gateway:SecurityHeaders:FrameOptions", "D\u00c9NY", "Gateway:SecurityHeaders:FrameOptions")]
    [InlineData("Gateway:Cors:AllowedOrigins", "https://app.example.com/path", "Gateway:Cors:AllowedOrigins")]
    [InlineData("Gateway:Cors:AllowedOrigins", "app.example.com", "Gateway:Cors:AllowedOrigins")]
    [InlineData("Gateway:Cors:AllowedOrigins", "*,https://app.example.com", "Gateway:Cors:AllowedOrigins")]
    [InlineData("Gateway:Cors:AllowedMethods", "GET,PO ST", "Gateway:Cors:AllowedMethods")]
    [InlineData("Gateway:Cors:MaxAge", "-00:01:00", "Gateway:Cors:MaxAge")]
    [InlineData("Gateway:Outbound:AttemptTimeout", "00:01:00", "Gateway:Outbound:AttemptTimeout")]
    [InlineData("Gateway:Outbound:MaxRetries", "11", "Gateway:Outbound:MaxRetries")]
    [InlineData("Gateway:Outbound:CircuitBreaker:FailureRatio", "1.5", "Gateway:Outbound:CircuitBreaker:FailureRatio")]
    [InlineData("Gateway:Outbound:CircuitBreaker:MinimumThroughput", "1", "Gateway:Outbound:CircuitBreaker:MinimumThroughput")]
    [InlineData("Gateway:Outbound:CircuitBreaker:SamplingDuration", "00:00:15", "Gateway:Outbound:CircuitBreaker:SamplingDuration")]
    public void Given_invalid_setting_Then_reading_fails_naming_the_setting(string key, string value, string named)
    {
        var ex = Should.Throw<InvalidConfigurationException>(() => Read((key, value)));

        ex.Setting.ShouldBe(named);
        ex.Message.ShouldContain(named);
    }

    [Fact]
    public void Given_any_origin_with_credentials_Then_reading_fails_naming_the_credentials_setting()
    {
        var ex = Should.Throw<InvalidConfigurationException>(() => Read(("Gateway:Cors:AllowedOrigins", "*"), ("Gateway:Cors:AllowCredentials", "true")));

        ex.Setting.ShouldBe("Gateway:Cors:AllowCredentials");
        ex.Message.ShouldContain("'*'");
    }
}
