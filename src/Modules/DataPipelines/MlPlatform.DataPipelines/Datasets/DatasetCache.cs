using Microsoft.Extensions.Logging;

namespace MlPlatform.DataPipelines.Datasets;

/// <summary>
/// The local, content-addressed copies of dataset versions (<c>{WorkDirectory}/cache/{sha256}.{ext}</c>),
/// bounded by <see cref="DataPipelinesSettings.CacheMaxBytes"/>. A file is leased while an operation
/// uses it (from before the existence check until its session is disposed) and is never evicted while
/// leased; beyond the bound, unleased files go least recently used first. "Used" is the file's
/// modification time, set on every lease, so the order survives a restart.
/// </summary>
public sealed partial class DatasetCache
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, int> _leases = new(StringComparer.Ordinal);
    private readonly DataPipelinesSettings _settings;
    private readonly TimeProvider _clock;
    private readonly ILogger<DatasetCache> _logger;

    public DatasetCache(DataPipelinesSettings settings, TimeProvider clock, ILogger<DatasetCache> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        _settings = settings;
        _clock = clock;
        _logger = logger;
        Directory.CreateDirectory(settings.CacheDirectory);
    }

    public string Folder => _settings.CacheDirectory;

    public long MaxBytes => _settings.CacheMaxBytes;

    /// <summary>Files leased now, for tests and diagnostics.</summary>
    public int LeasedCount
    {
        get
        {
            lock (_lock)
            {
                return _leases.Count;
            }
        }
    }

    /// <summary>Leases the cache file of a content; it may not exist yet (the caller fills it, then calls <see cref="Lease.Filled"/>).</summary>
    public Lease Acquire(string sha256, string extension)
    {
        var path = Path.Combine(_settings.CacheDirectory, $"{sha256}.{extension}");
        lock (_lock)
        {
            _leases[path] = _leases.GetValueOrDefault(path) + 1;
        }

        Touch(path);
        return new Lease(this, path);
    }

    /// <summary>Total size of the cached files (partial downloads excluded).</summary>
    public long SizeBytes() => Entries().Sum(e => e.Length);

    /// <summary>Deletes unleased files, least recently used first, until the cache is within its bound.</summary>
    public void Evict()
    {
        lock (_lock)
        {
            var entries = Entries().OrderBy(e => e.LastWriteTimeUtc).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
            var total = entries.Sum(e => e.Length);
            foreach (var entry in entries)
            {
                if (total <= _settings.CacheMaxBytes)
                {
                    break;
                }

                if (_leases.ContainsKey(entry.FullName))
                {
                    continue; // In use: a session reads it (or links to it) now.
                }

                var length = entry.Length; // Read before Delete, which makes the FileInfo look again.
                try
                {
                    entry.Delete();
                    total -= length;
                    LogEvicted(_logger, entry.Name, length);
                }
                catch (IOException ex)
                {
                    LogNotEvicted(_logger, entry.Name, ex.Message);
                }
            }
        }
    }

    private List<FileInfo> Entries()
    {
        var folder = new DirectoryInfo(_settings.CacheDirectory);
        return folder.Exists
            ? folder.EnumerateFiles().Where(f => !f.Name.EndsWith(".partial", StringComparison.Ordinal)).ToList()
            : [];
    }

    private void Touch(string path)
    {
        try
        {
            if (File.Exists(path))
            {
                File.SetLastWriteTimeUtc(path, _clock.GetUtcNow().UtcDateTime);
            }
        }
        catch (IOException)
        {
            // The order of eviction is a hint; a file that cannot be touched stays where it was.
        }
    }

    private void Release(string path)
    {
        lock (_lock)
        {
            var count = _leases.GetValueOrDefault(path) - 1;
            if (count <= 0)
            {
                _leases.Remove(path);
            }
            else
            {
                _leases[path] = count;
            }
        }

        // A file larger than the bound stays while in use and goes at its release.
        Evict();
    }

    /// <summary>One operation's use of one cache file; disposing it lets eviction take the file.</summary>
    public sealed class Lease(DatasetCache cache, string path) : IDisposable
    {
        private int _disposed;

        public string Path { get; } = path;

        /// <summary>The file was just written: mark it used now and bring the cache back within its bound.</summary>
        public void Filled()
        {
            cache.Touch(Path);
            cache.Evict();
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                cache.Release(Path);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Evicted {File} ({Bytes} bytes) from the dataset cache")]
    private static partial void LogEvicted(ILogger logger, string file, long bytes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not evict {File} from the dataset cache: {Reason}")]
    private static partial void LogNotEvicted(ILogger logger, string file, string reason);
}
