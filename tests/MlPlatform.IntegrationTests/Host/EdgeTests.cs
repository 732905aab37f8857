using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Host;

/// <summary>Every error is RFC 9457 problem+json with the right status, never an empty body or a leak.</summary>
public sealed class EdgeTests : IAsyncLifetime
{
    private const long BodyLimit = 4096;
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-edge-" + Guid.NewGuid().ToString("N")[..10]);
    private InProcessHost _host = null!;

    public async Task InitializeAsync()
    {
        _host = await InProcessHost.StartAsync(
            DatabaseProvider.Sqlite,
            _dataDirectory,
            null,
            [new ProbeModule(new ProbeLog())],
            new Dictionary<string, string?> { ["Gateway:MaxRequestBodyBytes"] = BodyLimit.ToString(System.Globalization.CultureInfo.InvariantCulture) });
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    private static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode expected)
    {
        response.StatusCode.ShouldBe(expected);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var problem = document.RootElement.Clone();
        problem.GetProperty("status").GetInt32().ShouldBe((int)expected);
        problem.GetProperty("title").GetString().ShouldNotBeNullOrWhiteSpace();
        problem.TryGetProperty("traceId", out _).ShouldBeTrue();
        return problem;
    }

    [Fact]
    public async Task Given_unknown_route_Then_returns_404_problem()
    {
        var problem = await Problem(await _host.Client.GetAsync("/api/v1/no-such-thing"), HttpStatusCode.NotFound);

        problem.GetProperty("instance").GetString().ShouldBe("/api/v1/no-such-thing");
    }

    [Fact]
    public async Task Given_valid_json_Then_endpoint_answers()
    {
        var response = await _host.Client.PostAsJsonAsync("/test/echo", new EchoRequest("a", 2));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadFromJsonAsync<EchoRequest>()).ShouldBe(new EchoRequest("a", 2));
    }

    [Theory]
    [InlineData("{\"name\": \"a\", \"count\": ")]
    [InlineData("{\"name\": \"a\", \"count\": \"many\"}")]
    [InlineData("not json at all")]
    public async Task Given_malformed_json_Then_returns_400_problem_naming_the_problem(string body)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");

        var problem = await Problem(await _host.Client.PostAsync("/test/echo", content), HttpStatusCode.BadRequest);

        problem.GetProperty("detail").GetString().ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public async Task Given_wrong_content_type_Then_returns_415_problem()
    {
        using var content = new StringContent("{}", Encoding.UTF8, "text/plain");

        await Problem(await _host.Client.PostAsync("/test/echo", content), HttpStatusCode.UnsupportedMediaType);
    }

    [Fact]
    public async Task Given_body_over_the_limit_with_content_length_Then_returns_413_problem()
    {
        var big = JsonSerializer.Serialize(new EchoRequest(new string('x', (int)BodyLimit * 2), 1));
        using var content = new StringContent(big, Encoding.UTF8, "application/json");

        var problem = await Problem(await _host.Client.PostAsync("/test/echo", content), HttpStatusCode.RequestEntityTooLarge);

        problem.GetProperty("detail").GetString()!.ShouldContain(BodyLimit.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Given_chunked_body_over_the_limit_Then_returns_413_problem()
    {
        var big = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new EchoRequest(new string('x', (int)BodyLimit * 2), 1)));
        using var content = new StreamContent(new UnknownLengthStream(big));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");

        await Problem(await _host.Client.PostAsync("/test/echo", content), HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task Given_unexpected_failure_Then_returns_500_problem_without_internal_details()
    {
        var response = await _host.Client.PostAsync("/test/fail", null);

        var problem = await Problem(response, HttpStatusCode.InternalServerError);
        (await response.Content.ReadAsStringAsync()).ShouldNotContain("internal detail");
        problem.GetProperty("detail").GetString()!.ShouldContain("trace id");
    }

    /// <summary>A body whose length the client cannot know, so it is sent chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
