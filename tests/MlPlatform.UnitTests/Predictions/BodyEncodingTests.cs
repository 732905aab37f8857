using System.IO.Compression;
using System.Text;
using MlPlatform.Predictions.Inference;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UnitTests.Predictions;

/// <summary>Request bodies sent compressed (Content-Encoding) are expanded within the body limit, or refused with the right status.</summary>
public sealed class BodyEncodingTests
{
    private static readonly byte[] Json = Encoding.UTF8.GetBytes("""{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}]}""");

    [Theory]
    [InlineData("gzip")]
    [InlineData("x-gzip")]
    [InlineData("deflate")]
    [InlineData("br")]
    [InlineData("GZIP")]
    public void Given_compressed_body_Then_it_expands_to_what_was_sent(string encoding)
    {
        V2Codec.Decode(Compress(Json, encoding), encoding, 1_000).ShouldBe(Json);
    }

    [Theory]
    [InlineData("identity")]
    [InlineData(" ")]
    public void Given_no_compression_Then_the_body_is_unchanged(string encoding)
    {
        V2Codec.Decode(Json, encoding, 1_000).ShouldBeSameAs(Json);
    }

    [Fact]
    public void Given_small_body_that_expands_past_the_limit_Then_413()
    {
        var bomb = Compress(new byte[1_000_000], "gzip");
        bomb.Length.ShouldBeLessThan(10_000);

        Should.Throw<PayloadTooLargeException>(() => V2Codec.Decode(bomb, "gzip", 100_000));
    }

    [Fact]
    public void Given_corrupt_or_unknown_encoding_Then_400_or_415()
    {
        Should.Throw<BadRequestException>(() => V2Codec.Decode(Json, "gzip", 1_000)).Message.ShouldContain("not valid gzip");
        Should.Throw<BadRequestException>(() => V2Codec.Decode(Json, "br", 1_000)).Message.ShouldContain("not valid br");
        Should.Throw<UnsupportedMediaTypeException>(() => V2Codec.Decode(Json, "compress", 1_000));
    }

    internal static byte[] Compress(byte[] data, string encoding)
    {
        using var output = new MemoryStream();
        using (Stream compressor = encoding.ToLowerInvariant() switch
        {
            "gzip" or "x-gzip" => new GZipStream(output, CompressionLevel.Fastest),
            "deflate" => new ZLibStream(output, CompressionLevel.Fastest),
            _ => new BrotliStream(output, CompressionLevel.Fastest),
        })
        {
            compressor.Write(data);
        }

        return output.ToArray();
    }
}
