using System.Net;
using System.Text.Json;
using static MlPlatform.IntegrationTests.Gateway.EdgeHost;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>Groups and endpoints raise or lower <c>Gateway:MaxRequestBodyBytes</c> with <c>.WithRequestBodyLimit(bytes)</c>.</summary>
[Collection(EdgeHostCollection.Name)]
public sealed class BodyLimitTests(EdgeHost edge)
{
    private async Task<HttpResponseMessage> Post(string path, int bytes, bool chunked = false)
    {
        var data = new byte[bytes];
        using var request = Request(HttpMethod.Post, path);
        request.Content = chunked ? new StreamContent(new UnknownLengthStream(data)) : new ByteArrayContent(data);
        return await edge.Client.SendAsync(request);
    }

    private static async Task ShouldBeTooLarge(HttpResponseMessage response, long limit)
    {
        response.StatusCode.ShouldBe(HttpStatusCode.RequestEntityTooLarge);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        problem.RootElement.GetProperty("detail").GetString()!.ShouldContain(limit.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Given_endpoint_that_raises_its_limit_Then_a_body_above_the_global_limit_is_accepted(bool chunked)
    {
        const int bytes = (int)GlobalBodyLimit * 4;

        var response = await Post("/test/edge/uploads/large", bytes, chunked);

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldContain($"\"bytes\":{bytes}");
    }

    [Fact]
    public async Task Given_endpoint_that_raises_its_limit_Then_a_body_above_that_limit_is_refused()
    {
        await ShouldBeTooLarge(await Post("/test/edge/uploads/large", (int)EdgeProbeModule.RaisedBodyLimit + 1), EdgeProbeModule.RaisedBodyLimit);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Given_group_that_lowers_its_limit_Then_a_body_below_the_global_limit_is_refused_with_413(bool chunked)
    {
        await ShouldBeTooLarge(await Post("/test/edge/uploads/small", 1024, chunked), EdgeProbeModule.GroupBodyLimit);
    }

    [Fact]
    public async Task Given_group_that_lowers_its_limit_Then_a_body_within_it_is_accepted()
    {
        (await Post("/test/edge/uploads/small", (int)EdgeProbeModule.GroupBodyLimit)).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Given_endpoint_without_a_limit_of_its_own_Then_the_global_limit_applies()
    {
        (await Post("/test/edge/bytes", (int)GlobalBodyLimit)).StatusCode.ShouldBe(HttpStatusCode.OK);
        await ShouldBeTooLarge(await Post("/test/edge/bytes", (int)GlobalBodyLimit + 1), GlobalBodyLimit);
    }

    /// <summary>A body whose length the client cannot know, so it is sent chunked.</summary>
    private sealed class UnknownLengthStream(byte[] data) : MemoryStream(data)
    {
        public override bool CanSeek => false;
    }
}
