namespace MlPlatform.SharedKernel.Storage;

/// <summary>
/// The artifact store: model files, datasets, step outputs. Keys are relative, '/'-separated
/// paths; every backend rejects keys that could escape the store (see <see cref="ObjectKey"/>).
/// </summary>
public interface IObjectStore
{
    /// <summary>"local" or "s3".</summary>
    string Backend { get; }

    /// <summary>Streams <paramref name="content"/> to <paramref name="key"/>, replacing any object there, and hashes it on the way.</summary>
    Task<StoredObject> PutAsync(string key, Stream content, string? contentType = null, CancellationToken cancellationToken = default);

    /// <summary>Opens the object for streaming reads; throws <see cref="ObjectNotFoundException"/> when absent.</summary>
    Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Size and time of the object, or null when absent.</summary>
    Task<ObjectInfo?> GetInfoAsync(string key, CancellationToken cancellationToken = default);

    Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>Every object whose key starts with <paramref name="prefix"/>, in key order.</summary>
    IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, CancellationToken cancellationToken = default);

    /// <summary>Deletes the object; false when there was none.</summary>
    Task<bool> DeleteAsync(string key, CancellationToken cancellationToken = default);

    /// <summary>A time-limited link that downloads the object without our host, where the backend has one; otherwise null.</summary>
    Task<Uri?> GetDownloadUrlAsync(string key, TimeSpan validFor, CancellationToken cancellationToken = default);

    /// <summary>The object's URI as recorded in lineage: <c>s3://bucket/key</c> or <c>file:///path</c>.</summary>
    Uri UriOf(string key);

    /// <summary>Throws when the store cannot be reached (readiness).</summary>
    Task CheckAvailableAsync(CancellationToken cancellationToken = default);
}

public sealed record StoredObject(string Key, long Size, string Sha256, Uri Uri);

public sealed record ObjectInfo(string Key, long Size, DateTimeOffset LastModified);

public sealed class ObjectNotFoundException(string key) : Exception($"Object '{key}' does not exist.")
{
    public string Key { get; } = key;
}

/// <summary>Thrown for a key that is empty, too long, absolute, or could escape the store.</summary>
public sealed class InvalidObjectKeyException(string key, string reason) : ArgumentException($"Invalid object key '{key}': {reason}.")
{
    public string Key { get; } = key;
}
