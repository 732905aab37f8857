using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.Metadata;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Gateway.BodyLimits;

/// <summary>
/// Answers 413 for a body over the limit: at once when Content-Length says so, or as soon as a
/// chunked body passes it. The limit is <c>Gateway:MaxRequestBodyBytes</c> unless the endpoint or
/// its group carries <see cref="IRequestSizeLimitMetadata"/> (<c>.WithRequestBodyLimit(bytes)</c>).
/// Checked here rather than left to Kestrel so the test server, which enforces nothing, behaves the same.
/// </summary>
internal sealed class RequestBodyLimitMiddleware(RequestDelegate next, long defaultLimit)
{
    public Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata.GetMetadata<IRequestSizeLimitMetadata>();
        // Metadata with no size (DisableRequestSizeLimit) lifts the limit altogether.
        var limit = metadata is null ? defaultLimit : metadata.MaxRequestBodySize;
        var feature = context.Features.Get<IHttpMaxRequestBodySizeFeature>();
        if (feature is { IsReadOnly: false })
        {
            feature.MaxRequestBodySize = limit;
        }

        if (limit is not { } max)
        {
            return next(context);
        }

        if (context.Request.ContentLength is { } length && length > max)
        {
            throw new PayloadTooLargeException(max);
        }

        if (context.Request.ContentLength is null && context.Request.Body.CanRead)
        {
            context.Request.Body = new LimitedReadStream(context.Request.Body, max);
        }

        return next(context);
    }

    /// <summary>Counts what is read and fails with 413 past the limit (for chunked bodies).</summary>
    private sealed class LimitedReadStream(Stream inner, long limit) : Stream
    {
        private long _read;

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count) => Count(inner.Read(buffer, offset, count));

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            Count(await inner.ReadAsync(buffer, cancellationToken));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        private int Count(int read)
        {
            _read += read;
            return _read > limit ? throw new PayloadTooLargeException(limit) : read;
        }

        public override void Flush() => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
