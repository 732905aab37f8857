using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.SharedKernel.Uploads;

/// <summary>
/// Streams an upload to a local file, refusing it with 413 as soon as it passes the limit, so memory
/// stays flat and an oversized body is not read to its end.
/// </summary>
public static class UploadSpool
{
    private const int BufferSize = 1 << 16;

    /// <summary>Writes <paramref name="source"/> to a new file at <paramref name="path"/>; returns its size in bytes.</summary>
    public static async Task<long> ToFileAsync(Stream source, string path, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(source);
        await using var target = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
        var buffer = new byte[BufferSize];
        long total = 0;
        int read;
        while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
        {
            total += read;
            if (total > maxBytes)
            {
                throw new PayloadTooLargeException(maxBytes);
            }

            await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
        }

        return total;
    }

    /// <summary>The RFC 9530 <c>Repr-Digest</c> header value for a SHA-256 given in hex, so a client can check a download.</summary>
    public static string ReprDigest(string sha256Hex) => $"sha-256=:{Convert.ToBase64String(Convert.FromHexString(sha256Hex))}:";
}
