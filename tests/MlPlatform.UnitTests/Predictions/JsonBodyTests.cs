using System.Text;
using Microsoft.AspNetCore.Http;
using MlPlatform.Predictions.Inference;

namespace MlPlatform.UnitTests.Predictions;

public sealed class JsonBodyTests
{
    private static async Task<(string Body, long? Length, string? Type)> Answer(Action<System.Text.Json.Utf8JsonWriter, int> compose)
    {
        var context = new DefaultHttpContext();
        var stream = new MemoryStream();
        context.Response.Body = stream;
        JsonBody.Write(context.Response, 0, compose);
        await context.Response.BodyWriter.FlushAsync();
        return (Encoding.UTF8.GetString(stream.ToArray()), context.Response.ContentLength, context.Response.ContentType);
    }

    [Fact]
    public async Task Given_answer_Then_it_is_sent_whole_with_its_length_and_a_failed_one_leaves_the_next_clean()
    {
        Should.Throw<InvalidOperationException>(() => JsonBody.Write(new DefaultHttpContext().Response, 0, (w, _) =>
        {
            w.WriteStartObject();
            w.WriteString("half", "written");
            throw new InvalidOperationException("composition failed");
        }));

        var (body, length, type) = await Answer((w, _) =>
        {
            w.WriteStartObject();
            w.WriteString("model_name", "m");
            w.WriteEndObject();
        });

        body.ShouldBe("""{"model_name":"m"}""");
        length.ShouldBe(Encoding.UTF8.GetByteCount(body));
        type.ShouldBe("application/json");

        // A large answer (past what is kept per thread) is whole too, and the next small one unaffected.
        var (large, largeLength, _) = await Answer((w, _) =>
        {
            w.WriteStartArray();
            for (var i = 0; i < 50_000; i++)
            {
                w.WriteNumberValue(i);
            }

            w.WriteEndArray();
        });
        largeLength.ShouldBe(Encoding.UTF8.GetByteCount(large));
        large.ShouldEndWith("49999]");
        (await Answer((w, _) => w.WriteNumberValue(1))).Body.ShouldBe("1");
    }

    [Theory]
    [InlineData("gzip", "gzip")]
    [InlineData("deflate, gzip;q=0.5", "gzip")]
    [InlineData("br, deflate", "deflate")]
    [InlineData("gzip;q=0, deflate", "deflate")]
    [InlineData("GZIP", "gzip")]
    [InlineData("br", null)]
    [InlineData("identity", null)]
    [InlineData("gzip; q=0", null)]
    public void Given_accept_encoding_Then_gzip_is_chosen_before_deflate_and_refused_ones_are_not(string header, string? expected)
    {
        JsonBody.Accepted(header).ShouldBe(expected);
    }

    [Fact]
    public async Task Given_caller_accepting_gzip_Then_a_large_answer_is_compressed_and_a_small_one_is_not()
    {
        var context = new DefaultHttpContext();
        context.Request.Headers.AcceptEncoding = "gzip, deflate";
        var stream = new MemoryStream();
        context.Response.Body = stream;
        var values = Enumerable.Range(0, 1_000).ToArray();

        JsonBody.Write(context.Response, values, static (w, v) =>
        {
            w.WriteStartArray();
            foreach (var i in v)
            {
                w.WriteNumberValue(i);
            }

            w.WriteEndArray();
        });
        await context.Response.BodyWriter.FlushAsync();

        context.Response.Headers.ContentEncoding.ToString().ShouldBe("gzip");
        context.Response.ContentLength.ShouldBe(stream.Length);
        using var expanded = new MemoryStream();
        using (var gzip = new System.IO.Compression.GZipStream(new MemoryStream(stream.ToArray()), System.IO.Compression.CompressionMode.Decompress))
        {
            await gzip.CopyToAsync(expanded);
        }

        Encoding.UTF8.GetString(expanded.ToArray()).ShouldBe("[" + string.Join(",", values) + "]");
        stream.Length.ShouldBeLessThan(expanded.Length);

        var small = new DefaultHttpContext();
        small.Request.Headers.AcceptEncoding = "gzip";
        small.Response.Body = new MemoryStream();
        JsonBody.Write(small.Response, 0, static (w, _) => w.WriteNumberValue(1));
        small.Response.Headers.ContentEncoding.Count.ShouldBe(0);
        small.Response.ContentLength.ShouldBe(1);
    }
}
