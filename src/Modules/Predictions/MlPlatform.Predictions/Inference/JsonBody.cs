using System.Buffers;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// Writes a JSON answer of known length: composed in a per-thread buffer with a per-thread writer
/// (nothing allocated per answer), then sent with a Content-Length in one copy into the response
/// pipe, so neither side pays for chunked framing. Synchronous on purpose: the buffer belongs to
/// the thread, so no await may come between composing and copying.
/// </summary>
internal static class JsonBody
{
    /// <summary>A buffer grown past this by a large answer is dropped afterwards rather than kept per thread.</summary>
    private const int KeptBytes = 64 * 1024;

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

            response.ContentLength = buffer.WrittenCount;
            response.BodyWriter.Write(buffer.WrittenSpan);
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
}
