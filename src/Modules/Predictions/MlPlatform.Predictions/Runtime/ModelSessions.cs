using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.Predictions.Runtime;

/// <summary>What identifies a model file: its content hash, and where the artifact store keeps it.</summary>
public sealed record ModelFile(string Sha256, string ArtifactKey, long SizeBytes);

/// <summary>
/// One loaded ONNX Runtime session, shared by every thread and every endpoint that serves the same
/// file. Reference counted: the manager holds one reference while the model is loaded, each
/// in-flight request holds one, and the native session is freed when the last is released — so
/// unloading or swapping never pulls a session from under a running request.
/// </summary>
public sealed class LoadedModel
{
    private readonly TimeProvider _clock;
    private int _references = 1;
    private long _lastUsed;

    internal LoadedModel(ModelFile file, InferenceSession session, TimeSpan loadTime, TimeProvider clock)
    {
        _clock = clock;
        File = file;
        Session = session;
        Signature = ModelSignature.From(session);
        LoadTime = loadTime;
        FeatureNames = session.ModelMetadata.CustomMetadataMap.TryGetValue("feature_names", out var names) && names.Length > 0
            ? names.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : null;
        Touch();
    }

    public ModelFile File { get; }

    public InferenceSession Session { get; }

    public ModelSignature Signature { get; }

    public TimeSpan LoadTime { get; }

    /// <summary>Names of the single input's columns, when the model's metadata lists them (<c>feature_names</c>).</summary>
    public IReadOnlyList<string>? FeatureNames { get; }

    public bool Disposed => Volatile.Read(ref _references) <= 0;

    /// <summary>The clock's timestamp (<see cref="TimeProvider.GetTimestamp"/>) of the last acquire.</summary>
    internal long LastUsed => Volatile.Read(ref _lastUsed);

    internal void Touch() => Volatile.Write(ref _lastUsed, _clock.GetTimestamp());

    /// <summary>False once the model is being unloaded: the caller looks it up again.</summary>
    public bool TryAcquire()
    {
        while (true)
        {
            var current = Volatile.Read(ref _references);
            if (current <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _references, current + 1, current) == current)
            {
                Touch();
                return true;
            }
        }
    }

    public void Release()
    {
        if (Interlocked.Decrement(ref _references) == 0)
        {
            Session.Dispose();
        }
    }
}

/// <summary>
/// Loads model files into sessions: from the artifact store through a local file cache (checked by
/// hash), with the configured session options, warmed with one run before anyone is served, and
/// unloaded again when idle or when the loaded models exceed the memory budget.
/// </summary>
public sealed partial class ModelSessions : IDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<LoadedModel>>> _models = new(StringComparer.Ordinal);
    private readonly IObjectStore _store;
    private readonly PredictionsSettings _settings;
    private readonly ILogger<ModelSessions> _logger;
    private readonly TimeProvider _clock;
    private readonly string _cacheDirectory;

    public ModelSessions(IObjectStore store, PredictionsSettings settings, DatabaseSettings database, TimeProvider clock, ILogger<ModelSessions> logger)
    {
        _store = store;
        _clock = clock;
        _settings = settings;
        _logger = logger;
        _cacheDirectory = settings.CacheDirectory ?? Path.Combine(database.DataDirectory, "model-cache");
        PredictionMetrics.ObserveSessions(this);
    }

    public int LoadedCount => Loaded().Count();

    public long LoadedBytes => Loaded().Sum(m => m.File.SizeBytes);

    public IEnumerable<LoadedModel> Loaded() =>
        _models.Values.Where(l => l.IsValueCreated && l.Value.IsCompletedSuccessfully).Select(l => l.Value.Result).Where(m => !m.Disposed);

    public bool IsLoaded(string sha256) =>
        _models.TryGetValue(sha256, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully && !lazy.Value.Result.Disposed;

    /// <summary>The loaded model, loading (and warming) it first if needed. The caller gets no reference: call <see cref="LoadedModel.TryAcquire"/>.</summary>
    public async Task<LoadedModel> GetAsync(ModelFile file, CancellationToken cancellationToken)
    {
        while (true)
        {
            var lazy = _models.GetOrAdd(file.Sha256, _ => new Lazy<Task<LoadedModel>>(() => LoadAsync(file)));
            LoadedModel model;
            try
            {
                model = await lazy.Value.WaitAsync(cancellationToken);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                // A failed load is not remembered: the next request tries again.
                _models.TryRemove(new KeyValuePair<string, Lazy<Task<LoadedModel>>>(file.Sha256, lazy));
                throw;
            }

            if (!model.Disposed)
            {
                EnforceBudget(file.Sha256);
                return model;
            }

            _models.TryRemove(new KeyValuePair<string, Lazy<Task<LoadedModel>>>(file.Sha256, lazy));
        }
    }

    /// <summary>Unloads a model (its session is freed once in-flight requests finish).</summary>
    public void Unload(string sha256)
    {
        if (_models.TryRemove(sha256, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
        {
            LogUnloaded(_logger, sha256[..12]);
            lazy.Value.Result.Release();
        }
    }

    /// <summary>Unloads models unused for the idle time, except those in <paramref name="keep"/> (the live routing tables' models).</summary>
    public void UnloadIdle(IReadOnlySet<string> keep)
    {
        foreach (var model in Loaded().ToList())
        {
            // Measured on the injected clock, so a test can move time instead of waiting for it.
            if (!keep.Contains(model.File.Sha256) && _clock.GetElapsedTime(model.LastUsed) > _settings.IdleUnloadAfter)
            {
                Unload(model.File.Sha256);
            }
        }

        EnforceBudget(null);
    }

    private void EnforceBudget(string? justUsed)
    {
        var loaded = Loaded().ToList();
        var total = loaded.Sum(m => m.File.SizeBytes);
        if (total <= _settings.MemoryBudgetBytes)
        {
            return;
        }

        // Least recently used first; the model just asked for stays.
        foreach (var model in loaded.Where(m => m.File.Sha256 != justUsed).OrderBy(m => m.LastUsed))
        {
            if (total <= _settings.MemoryBudgetBytes)
            {
                break;
            }

            Unload(model.File.Sha256);
            total -= model.File.SizeBytes;
        }
    }

    private async Task<LoadedModel> LoadAsync(ModelFile file)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var path = await CachedFileAsync(file);
        InferenceSession session;
        using (var options = CreateOptions())
        {
            try
            {
                session = new InferenceSession(path, options);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new UnprocessableException($"The model file {file.Sha256[..12]} cannot be loaded by ONNX Runtime: {ex.Message.Split('\n')[0]}", ex);
            }
        }

        var model = new LoadedModel(file, session, System.Diagnostics.Stopwatch.GetElapsedTime(started), _clock);
        WarmUp(model);
        LogLoaded(_logger, file.Sha256[..12], file.SizeBytes, model.LoadTime.TotalMilliseconds);
        return model;
    }

    internal SessionOptions CreateOptions()
    {
        var options = new SessionOptions { GraphOptimizationLevel = _settings.OptimizationLevel };
        if (_settings.IntraOpThreads > 0)
        {
            options.IntraOpNumThreads = _settings.IntraOpThreads;
        }

        if (_settings.InterOpThreads > 0)
        {
            options.InterOpNumThreads = _settings.InterOpThreads;
        }

        if (!_settings.AllowSpinning)
        {
            options.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
            options.AddSessionConfigEntry("session.inter_op.allow_spinning", "0");
        }

        return options;
    }

    /// <summary>One run with zeros (free dimensions = 1), so the first caller does not pay for lazy initialisation.</summary>
    private void WarmUp(LoadedModel model)
    {
        try
        {
            var inputs = model.Signature.Inputs
                .Select(i =>
                {
                    var shape = i.Shape.Select(d => d < 0 ? 1L : d).ToArray();
                    return new TensorData(i.Name, i.Datatype, shape, Datatypes.Allocate(i.Datatype, (int)TensorBinding.ElementCount(shape)));
                })
                .ToList();
            if (inputs.Count != model.Session.InputMetadata.Count || inputs.Any(i => !Datatypes.Supported(i.Datatype)))
            {
                return;
            }

            var values = inputs.Select(TensorBinding.ToOrtValue).ToList();
            try
            {
                using var results = model.Session.Run(new RunOptions(), inputs.Select(i => i.Name).ToList(), values, model.Session.OutputNames);
            }
            finally
            {
                values.ForEach(v => v.Dispose());
            }
        }
        catch (Exception ex) when (ex is OnnxRuntimeException or BadRequestException or OverflowException)
        {
            // Some graphs refuse zeros; warm-up is an optimisation, not a check.
            LogWarmUpFailed(_logger, model.File.Sha256[..12], ex.Message);
        }
    }

    private async Task<string> CachedFileAsync(ModelFile file)
    {
        Directory.CreateDirectory(_cacheDirectory);
        var path = Path.Combine(_cacheDirectory, file.Sha256 + ".onnx");
        if (System.IO.File.Exists(path))
        {
            return path;
        }

        var temp = path + "." + Guid.NewGuid().ToString("N")[..8] + ".part";
        try
        {
            await using (var source = await _store.OpenReadAsync(file.ArtifactKey))
            await using (var target = System.IO.File.Create(temp))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[81920];
                int read;
                while ((read = await source.ReadAsync(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, read);
                    await target.WriteAsync(buffer.AsMemory(0, read));
                }

                var actual = Convert.ToHexStringLower(hash.GetHashAndReset());
                if (!string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase))
                {
                    throw new ConflictException($"The artifact '{file.ArtifactKey}' does not match its recorded hash; it was changed in the store.");
                }
            }

            System.IO.File.Move(temp, path, overwrite: true);
            return path;
        }
        catch (ObjectNotFoundException)
        {
            throw new ConflictException($"The artifact '{file.ArtifactKey}' is missing from the store.");
        }
        finally
        {
            if (System.IO.File.Exists(temp))
            {
                System.IO.File.Delete(temp);
            }
        }
    }

    public void Dispose()
    {
        foreach (var key in _models.Keys.ToList())
        {
            Unload(key);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Loaded model {Sha} ({Bytes} bytes) in {Milliseconds} ms")]
    private static partial void LogLoaded(ILogger logger, string sha, long bytes, double milliseconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Unloaded model {Sha}")]
    private static partial void LogUnloaded(ILogger logger, string sha);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Warm-up of model {Sha} failed: {Reason}")]
    private static partial void LogWarmUpFailed(ILogger logger, string sha, string reason);
}
