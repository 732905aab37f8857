using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>
/// A prediction host with the edge's rate limits on: 30 anonymous requests per client address, no
/// refill (logging the test accounts in is anonymous too, so the limit leaves room for that).
/// </summary>
public sealed class RateLimitedPredictionFixture : PredictionHostsFixture
{
    public const int AnonymousLimit = 30;

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
    [
        new("Gateway:RateLimits:Enabled", "true"),
        new("Gateway:RateLimits:Anonymous:PermitLimit", AnonymousLimit.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new("Gateway:RateLimits:Anonymous:TokensPerPeriod", "1"),
        new("Gateway:RateLimits:Anonymous:ReplenishmentPeriod", "01:00:00"),
    ];

    protected override void ConfigureServices(IServiceCollection services) => TestClientAddress.Register(services);
}

/// <summary>
/// Every error on the V2 routes is <c>{"error": "..."}</c> with its status, also those answered
/// before our handlers run (the body limit, authentication, the rate limiter, unknown routes);
/// the /api/v1 routes keep problem+json for the same failures.
/// </summary>
public sealed class V2ErrorTests(RateLimitedPredictionFixture hosts) : IClassFixture<RateLimitedPredictionFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];

    /// <summary>Over the fixture's 32 KiB inference limit.</summary>
    private static readonly float[][] Big = Enumerable.Range(0, 12_000).Select(_ => new[] { 1f, 2f, 3f }).ToArray();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_body_over_limit_with_or_without_length_Then_V2_answers_413_error_json_on_both_infer_routes(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await OneVersionEndpoint(api);
        var big = JsonSerializer.Serialize(V2Body(Big));

        // Content-Length says it: refused by the edge before any handler runs.
        (await V2Error(await Infer(api.Viewer, endpoint, big), HttpStatusCode.RequestEntityTooLarge)).ShouldContain("larger than the limit");
        (await V2Error(await Infer(api.Viewer, endpoint, big, path: $"/v2/models/{endpoint}/versions/1/infer"), HttpStatusCode.RequestEntityTooLarge)).ShouldContain("larger than the limit");
        // Chunked: found out while reading.
        (await V2Error(await SendChunked(api.Viewer, $"/v2/models/{endpoint}/infer", big), HttpStatusCode.RequestEntityTooLarge)).ShouldNotBeNullOrWhiteSpace();

        // The JSON API keeps problem+json for the same body.
        var predict = await Problem(await SendJson(api.Viewer, $"/api/v1/endpoints/{endpoint}/predict", big), HttpStatusCode.RequestEntityTooLarge);
        predict.GetProperty("status").GetInt32().ShouldBe(413);

        Output(await Json(await Infer(api.Viewer, endpoint, V2Body(Row)), HttpStatusCode.OK))[0].ShouldBe(Expected(1, Row), 1e-6f);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_unauthenticated_V2_caller_Then_401_error_json_with_challenge_and_api_v1_stays_problem_json(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await OneVersionEndpoint(api);
        var address = NewAddress();

        var anonymous = await Infer(Client(api, address), endpoint, V2Body(Row));
        (await V2Error(anonymous, HttpStatusCode.Unauthorized)).ShouldContain("Authentication is required");
        anonymous.Headers.WwwAuthenticate.ShouldNotBeEmpty();

        using var badToken = new HttpRequestMessage(HttpMethod.Get, $"/v2/models/{endpoint}");
        badToken.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "not.a.token");
        badToken.Headers.Add(TestClientAddress.Header, NewAddress());
        var rejected = await api.Factory.CreateClient().SendAsync(badToken);
        (await V2Error(rejected, HttpStatusCode.Unauthorized)).ShouldNotBeNullOrWhiteSpace();
        rejected.Headers.WwwAuthenticate.ToString().ShouldContain("invalid_token");

        using var predict = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/endpoints/{endpoint}/predict") { Content = JsonContent.Create(new { instances = new[] { Row } }) };
        predict.Headers.Add(TestClientAddress.Header, NewAddress());
        await Problem(await api.Factory.CreateClient().SendAsync(predict), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_unknown_endpoint_version_route_or_method_Then_V2_answers_404_or_405_error_json(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await OneVersionEndpoint(api);

        await V2Error(await Infer(api.Viewer, "no-such-endpoint", V2Body(Row)), HttpStatusCode.NotFound);
        await V2Error(await api.Viewer.GetAsync("/v2/models/no-such-endpoint"), HttpStatusCode.NotFound);
        await V2Error(await api.Viewer.GetAsync("/v2/models/no-such-endpoint/ready"), HttpStatusCode.NotFound);
        await V2Error(await Infer(api.Viewer, endpoint, V2Body(Row), path: $"/v2/models/{endpoint}/versions/99/infer"), HttpStatusCode.NotFound);
        await V2Error(await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/99"), HttpStatusCode.NotFound);
        // Outside the project: the endpoint does not exist for this caller.
        await V2Error(await Infer(api.Outsider, endpoint, V2Body(Row)), HttpStatusCode.NotFound);
        // No such route under /v2 (the status-code pages answer it) and a wrong method on a known one.
        (await V2Error(await api.Viewer.GetAsync($"/v2/models/{endpoint}/explain"), HttpStatusCode.NotFound)).ShouldContain("Not found");
        await V2Error(await api.Viewer.GetAsync("/v2/nothing-here"), HttpStatusCode.NotFound);
        await V2Error(await api.Viewer.GetAsync($"/v2/models/{endpoint}/infer"), HttpStatusCode.MethodNotAllowed);

        // The management and JSON APIs keep problem+json.
        await Problem(await api.Viewer.PostAsJsonAsync("/api/v1/endpoints/no-such-endpoint/predict", new { instances = new[] { Row } }), HttpStatusCode.NotFound);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/no-such-endpoint"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_malformed_or_unsupported_V2_body_Then_400_or_415_error_json_and_predict_stays_problem_json(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await OneVersionEndpoint(api);

        (await V2Error(await Infer(api.Viewer, endpoint, """{"inputs":[{"name":"x","shape":[1,4],"datatype":"FP32","data":[1,2,3,4]}]}"""), HttpStatusCode.BadRequest)).ShouldContain("x");
        (await V2Error(await Infer(api.Viewer, endpoint, "{\"inputs\":"), HttpStatusCode.BadRequest)).ShouldContain("JSON");
        (await V2Error(await Infer(api.Viewer, endpoint, string.Empty), HttpStatusCode.BadRequest)).ShouldContain("empty");
        using var text = new HttpRequestMessage(HttpMethod.Post, $"/v2/models/{endpoint}/versions/1/infer") { Content = new StringContent("x", Encoding.UTF8, "text/plain") };
        await V2Error(await api.Viewer.SendAsync(text), HttpStatusCode.UnsupportedMediaType);

        await Problem(await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = new[] { new { x = new[] { 1, 2 } } } }), HttpStatusCode.BadRequest);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_anonymous_client_over_its_rate_limit_Then_V2_answers_429_error_json_with_Retry_After_and_api_v1_problem_json(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var endpoint = await OneVersionEndpoint(api);
        var address = NewAddress();
        var client = Client(api, address);

        for (var i = 0; i < RateLimitedPredictionFixture.AnonymousLimit; i++)
        {
            // Within the limit: the caller is simply not authenticated.
            await V2Error(await Infer(client, endpoint, V2Body(Row)), HttpStatusCode.Unauthorized);
        }

        var limited = await Infer(client, endpoint, V2Body(Row));
        (await V2Error(limited, HttpStatusCode.TooManyRequests)).ShouldContain("rate limit");
        limited.Headers.RetryAfter.ShouldNotBeNull();
        // Open V2 routes are limited the same way, and answer the same way.
        await V2Error(await client.GetAsync("/v2/health/live"), HttpStatusCode.TooManyRequests);

        await Problem(await client.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = new[] { Row } }), HttpStatusCode.TooManyRequests);
    }

    /// <summary>Asserts a V2 error: the status, JSON (not problem+json) with exactly one property, "error"; returns the message.</summary>
    private static async Task<string> V2Error(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/json", text);
        using var body = JsonDocument.Parse(text);
        body.RootElement.EnumerateObject().Select(p => p.Name).ShouldBe(["error"], text);
        var message = body.RootElement.GetProperty("error").GetString();
        message.ShouldNotBeNullOrWhiteSpace();
        return message!;
    }

    private static Task<HttpResponseMessage> SendJson(HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    private static Task<HttpResponseMessage> SendChunked(HttpClient client, string path, string json)
    {
        var content = new StreamContent(new UnknownLengthStream(Encoding.UTF8.GetBytes(json)));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        return client.PostAsync(path, content);
    }

    private static HttpClient Client(WorkflowTestAccounts api, string address)
    {
        var client = api.Factory.CreateClient();
        client.DefaultRequestHeaders.Add(TestClientAddress.Header, address);
        return client;
    }

    private static string NewAddress() => $"10.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(1, 250)}.{Random.Shared.Next(1, 250)}";

    private static async Task<string> OneVersionEndpoint(WorkflowTestAccounts api)
    {
        var model = await ModelWithVersions(api, 1);
        return await Endpoint(api, name => new { name, variants = new[] { new { model, version = 1 } } });
    }

    /// <summary>A readable stream that hides its length, so the client sends the body chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
