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
}
