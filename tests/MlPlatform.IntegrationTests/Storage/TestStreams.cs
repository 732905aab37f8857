namespace MlPlatform.IntegrationTests.Storage;

/// <summary>
/// A forward-only source like a request body or a pipe: no Length, no Seek, and short reads of
/// uneven sizes, so the store cannot rely on knowing the size up front.
/// </summary>
internal sealed class NonSeekableStream(byte[] data, long failAfterBytes = long.MaxValue) : Stream
{
    private int _position;
    private int _reads;

    public int BytesRead => _position;

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> buffer)
    {
        if (_position >= failAfterBytes)
        {
            throw new IOException("The source broke off (simulated).");
        }

        // Uneven chunks between 1 and 100 KiB, like a network stream delivers them.
        var chunk = 1 + (int)((_reads++ * 7919L) % (100 * 1024));
        var count = (int)Math.Min(Math.Min(buffer.Length, chunk), Math.Min(data.Length - _position, failAfterBytes - _position));
        data.AsSpan(_position, count).CopyTo(buffer);
        _position += count;
        return count;
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Read(buffer.Span));
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}

internal static class TestData
{
    /// <summary>Deterministic bytes that do not compress or repeat at part boundaries.</summary>
    public static byte[] Random(int size, int seed = 42)
    {
        var data = new byte[size];
        new Random(seed).NextBytes(data);
        return data;
    }
}
