using System.Buffers;
using System.IO.Compression;
using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Primitives;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// Writes a JSON answer of known length: composed in a per-thread buffer with a per-thread writer
/// (nothing allocated per answer), then sent with a Content-Length in one copy into the response
/// pipe, so neither side pays for chunked framing. Synchronous on purpose: the buffer belongs to
/// the thread, so no await may come between composing and copying. An answer of 1 KB or more is
/// compressed when the caller accepts gzip or deflate (tritonclient's response compression asks so);
/// the binary extension's JSON length stays that of the uncompressed JSON, as clients read it after
/// expanding the body.
/// </summary>
internal static class JsonBody
{
    /// <summary>A buffer grown past this by a large answer is dropped afterwards rather than kept per thread.</summary>
    private const int KeptBytes = 64 * 1024;

    /// <summary>Smaller answers are sent as they are: compressing them saves less than it costs.</summary>
    internal const int CompressFrom = 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_buffer;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    public static void Write<TState>(HttpResponse response, TState state, Action<Utf8JsonWriter, TState> compose) =>
        Write(response, state, compose, null, null);

    /// <summary>
    /// JSON followed by binary data (the V2 binary tensor data extension): the JSON's length goes in
    /// <paramref name="jsonLengthHeader"/>, and the whole answer is <c>application/octet-stream</c>.
    /// </summary>
    public static void Write<TState>(HttpResponse response, TState state, Action<Utf8JsonWriter, TState> compose, Action<IBufferWriter<byte>, TState>? appendBinary, string? jsonLengthHeader)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(1024);
        var writer = t_writer ??= new Utf8JsonWriter(buffer);
        buffer.ResetWrittenCount();
        writer.Reset(buffer);
        try
        {
            compose(writer, state);
            writer.Flush();
            if (appendBinary is null)
            {
                response.ContentType = "application/json";
            }
            else
            {
                response.Headers[jsonLengthHeader!] = buffer.WrittenCount.ToString(System.Globalization.CultureInfo.InvariantCulture);
                appendBinary(buffer, state);
                response.ContentType = "application/octet-stream";
            }

            if (buffer.WrittenCount >= CompressFrom && Accepted(response.HttpContext.Request.Headers.AcceptEncoding) is { } encoding)
            {
                WriteCompressed(response, buffer.WrittenSpan, encoding);
            }
            else
            {
                response.ContentLength = buffer.WrittenCount;
                response.BodyWriter.Write(buffer.WrittenSpan);
            }
        }
        finally
        {
            // A failed composition leaves the writer mid-object: Reset clears its state either way.
            writer.Reset();
            if (buffer.Capacity > KeptBytes)
            {
                t_buffer = null;
                t_writer = null;
            }
        }
    }

    private static void WriteCompressed(HttpResponse response, ReadOnlySpan<byte> body, string encoding)
    {
        using var compressed = new MemoryStream(body.Length / 2);
        using (Stream compressor = encoding == "gzip"
            ? new GZipStream(compressed, CompressionLevel.Fastest, leaveOpen: true)
            : new ZLibStream(compressed, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(body);
        }

        response.Headers.ContentEncoding = encoding;
        response.Headers.Vary = "Accept-Encoding";
        response.ContentLength = compressed.Length;
        response.BodyWriter.Write(compressed.GetBuffer().AsSpan(0, (int)compressed.Length));
    }

    /// <summary>gzip, else deflate (HTTP's name for the zlib format), when the caller lists it with a weight above 0.</summary>
    internal static string? Accepted(StringValues acceptEncoding)
    {
        if (acceptEncoding.Count == 0)
        {
            return null;
        }

        var deflate = false;
        foreach (var value in acceptEncoding)
        {
            foreach (var part in (value ?? string.Empty).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var semicolon = part.IndexOf(';', StringComparison.Ordinal);
                var name = (semicolon < 0 ? part : part[..semicolon]).Trim();
                if (semicolon >= 0 && IsZeroWeight(part[(semicolon + 1)..]))
                {
                    continue;
                }

                if (name.Equals("gzip", StringComparison.OrdinalIgnoreCase) || name.Equals("x-gzip", StringComparison.OrdinalIgnoreCase))
                {
                    return "gzip";
                }

                deflate |= name.Equals("deflate", StringComparison.OrdinalIgnoreCase);
            }
        }

        return deflate ? "deflate" : null;
    }

    private static bool IsZeroWeight(string parameters)
    {
        var q = parameters.Trim();
        return q.StartsWith("q=", StringComparison.OrdinalIgnoreCase)
            && double.TryParse(q[2..], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var weight)
            && weight <= 0;
    }
}
