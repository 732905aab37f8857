using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;
using Polly.Timeout;

namespace MlPlatform.SharedKernel.Storage;

/// <summary>
/// Objects in an S3 (or S3-compatible) bucket. Uploads stream through one pooled part buffer, so
/// memory stays at one part whatever the object size; every call goes through a Polly pipeline
/// (per-attempt timeout, retries for transient errors, circuit breaker).
/// </summary>
public sealed class S3ObjectStore : IObjectStore, IDisposable
{
    // S3 numbers parts 1..10000.
    private const int MaxParts = 10_000;

    private static readonly HashSet<string> TransientErrorCodes = new(StringComparer.Ordinal)
    {
        "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
        "InternalError", "ServiceUnavailable", "TooManyRequestsException", "RequestLimitExceeded",
    };

    private readonly S3StoreSettings _settings;
    private readonly string _bucket;
    private readonly string _keyPrefix;
    private readonly AmazonS3Client _client;
    private readonly ResiliencePipeline _pipeline;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _bucketLock = new(1, 1);
    private volatile bool _bucketReady;

    public S3ObjectStore(S3StoreSettings settings, ILogger<S3ObjectStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        _settings = settings;
        _bucket = settings.Bucket;
        _keyPrefix = settings.KeyPrefix;
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _bucketReady = !settings.CreateBucket;
        _client = CreateClient(settings);
        _pipeline = BuildPipeline(settings, _logger);
    }

    public string Backend => "s3";

    public async Task<StoredObject> PutAsync(string key, Stream content, string? contentType = null, CancellationToken cancellationToken = default)
    {
        var fullKey = FullKey(key);
        ArgumentNullException.ThrowIfNull(content);
        await EnsureBucketAsync(cancellationToken);

        var partSize = _settings.PartSizeBytes;
        var buffer = ArrayPool<byte>.Shared.Rent(partSize);
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        string? uploadId = null;
        try
        {
            var (filled, end) = await FillAsync(content, buffer, partSize, hash, cancellationToken);
            if (end)
            {
                // Smaller than one part: a single PutObject, no multipart bookkeeping.
                await RunAsync(async ct =>
                {
                    var request = new PutObjectRequest
                    {
                        BucketName = _bucket,
                        Key = fullKey,
                        // A fresh view of the same bytes per attempt, so a retry resends from the start.
                        InputStream = new MemoryStream(buffer, 0, filled, writable: false),
                        ContentType = contentType,
                        // s3rver stores aws-chunked bodies verbatim (corrupted); real S3 accepts plain bodies too.
                        UseChunkEncoding = false,
                        AutoCloseStream = true,
                    };
                    return await _client.PutObjectAsync(request, ct);
                }, cancellationToken);
                return new StoredObject(key, filled, Convert.ToHexStringLower(hash.GetHashAndReset()), UriOf(key));
            }

            var initiated = await RunAsync(
                ct => _client.InitiateMultipartUploadAsync(new InitiateMultipartUploadRequest { BucketName = _bucket, Key = fullKey, ContentType = contentType }, ct),
                cancellationToken);
            uploadId = initiated.UploadId;

            var parts = new List<PartETag>();
            long size = 0;
            while (true)
            {
                var partNumber = parts.Count + 1;
                if (partNumber > MaxParts)
                {
                    throw new InvalidOperationException($"Object '{key}' needs more than {MaxParts} parts of {partSize} bytes; raise Storage:S3:PartSizeBytes.");
                }

                var length = filled;
                var uploaded = await RunAsync(async ct =>
                {
                    var request = new UploadPartRequest
                    {
                        BucketName = _bucket,
                        Key = fullKey,
                        UploadId = uploadId,
                        PartNumber = partNumber,
                        PartSize = length,
                        // Re-read from the start of the part buffer on every attempt.
                        InputStream = new MemoryStream(buffer, 0, length, writable: false),
                        UseChunkEncoding = false,
                    };
                    return await _client.UploadPartAsync(request, ct);
                }, cancellationToken);
                parts.Add(new PartETag(partNumber, uploaded.ETag));
                size += length;

                if (end)
                {
                    break;
                }

                // The buffer is free again once its part is stored.
                (filled, end) = await FillAsync(content, buffer, partSize, hash, cancellationToken);
                if (filled == 0)
                {
                    break;
                }
            }

            await RunAsync(
                ct => _client.CompleteMultipartUploadAsync(new CompleteMultipartUploadRequest { BucketName = _bucket, Key = fullKey, UploadId = uploadId, PartETags = parts }, ct),
                cancellationToken);
            uploadId = null;
            return new StoredObject(key, size, Convert.ToHexStringLower(hash.GetHashAndReset()), UriOf(key));
        }
        catch (Exception ex) when (uploadId is not null)
        {
            await AbortAsync(fullKey, uploadId, ex);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async Task<Stream> OpenReadAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = FullKey(key);
        await EnsureBucketAsync(cancellationToken);
        try
        {
            var response = await RunAsync(ct => _client.GetObjectAsync(new GetObjectRequest { BucketName = _bucket, Key = fullKey }, ct), cancellationToken);
            // The body streams from the connection; disposing it releases the connection.
            return response.ResponseStream;
        }
        catch (AmazonS3Exception ex) when (IsNotFound(ex))
        {
            throw new ObjectNotFoundException(key);
        }
    }

    public async Task<ObjectInfo?> GetInfoAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = FullKey(key);
        await EnsureBucketAsync(cancellationToken);
        var metadata = await HeadAsync(fullKey, cancellationToken);
        return metadata is null ? null : new ObjectInfo(key, metadata.ContentLength, ToOffset(metadata.LastModified));
    }

    public async Task<bool> ExistsAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = FullKey(key);
        await EnsureBucketAsync(cancellationToken);
        return await HeadAsync(fullKey, cancellationToken) is not null;
    }

    public async IAsyncEnumerable<ObjectInfo> ListAsync(string prefix, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prefix);
        ObjectKey.ValidatePrefix(prefix);
        await EnsureBucketAsync(cancellationToken);
        string? continuation = null;
        do
        {
            var token = continuation;
            var page = await RunAsync(
                ct => _client.ListObjectsV2Async(
                    new ListObjectsV2Request { BucketName = _bucket, Prefix = _keyPrefix + prefix, MaxKeys = _settings.ListPageSize, ContinuationToken = token },
                    ct),
                cancellationToken);

            // SDK v4 leaves collections null when a page is empty.
            foreach (var item in page.S3Objects ?? [])
            {
                // Folder markers written by other tools are not objects.
                if (item.Key.EndsWith('/'))
                {
                    continue;
                }

                yield return new ObjectInfo(item.Key[_keyPrefix.Length..], item.Size ?? 0, ToOffset(item.LastModified));
            }

            continuation = page.IsTruncated == true ? page.NextContinuationToken : null;
        }
        while (!string.IsNullOrEmpty(continuation));
    }

    public async Task<bool> DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        var fullKey = FullKey(key);
        await EnsureBucketAsync(cancellationToken);
        // S3 deletes idempotently and does not say whether anything was there, so ask first.
        if (await HeadAsync(fullKey, cancellationToken) is null)
        {
            return false;
        }

        await RunAsync(ct => _client.DeleteObjectAsync(new DeleteObjectRequest { BucketName = _bucket, Key = fullKey }, ct), cancellationToken);
        return true;
    }

    public async Task<Uri?> GetDownloadUrlAsync(string key, TimeSpan validFor, CancellationToken cancellationToken = default)
    {
        var fullKey = FullKey(key);
        // SigV4 presigned URLs live at most seven days.
        if (validFor <= TimeSpan.Zero || validFor > TimeSpan.FromDays(7))
        {
            throw new ArgumentOutOfRangeException(nameof(validFor), validFor, "A download link is valid for more than zero and at most seven days.");
        }

        var request = new GetPreSignedUrlRequest
        {
            BucketName = _bucket,
            Key = fullKey,
            Verb = HttpVerb.GET,
            Expires = DateTime.UtcNow.Add(validFor),
            // The SDK signs https links unless told otherwise; a plain-http server would refuse them.
            Protocol = _settings.ServiceUrl?.Scheme == Uri.UriSchemeHttp ? Protocol.HTTP : Protocol.HTTPS,
        };
        cancellationToken.ThrowIfCancellationRequested();
        // Signing is local (no request), so it needs no resilience pipeline.
        return new Uri(await _client.GetPreSignedURLAsync(request));
    }

    public Uri UriOf(string key) => new($"s3://{_bucket}/{FullKey(key)}");

    public async Task CheckAvailableAsync(CancellationToken cancellationToken = default)
    {
        await EnsureBucketAsync(cancellationToken);
        // Proves the endpoint, the credentials and the bucket in one small answer that never pages.
        await RunAsync(ct => _client.GetBucketLocationAsync(new GetBucketLocationRequest { BucketName = _bucket }, ct), cancellationToken);
    }

    public void Dispose()
    {
        _client.Dispose();
        _bucketLock.Dispose();
    }

    /// <summary>Whether a failure is worth another attempt: server errors, throttling, timeouts and broken connections.</summary>
    internal static bool IsTransient(Exception exception) => exception switch
    {
        BrokenCircuitException => false,
        TimeoutRejectedException => true,
        AmazonServiceException service when service.StatusCode != 0 =>
            (int)service.StatusCode >= 500
            || service.StatusCode == HttpStatusCode.TooManyRequests
            || (service.ErrorCode is { } code && TransientErrorCodes.Contains(code)),
        HttpRequestException or IOException or SocketException or TimeoutException => true,
        // The SDK's own HTTP timeout; the caller's cancellation is excluded by the pipeline predicates.
        TaskCanceledException => true,
        _ => exception.InnerException is { } inner && IsTransient(inner),
    };

    private string FullKey(string key) => _keyPrefix + ObjectKey.Validate(key);

    private Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> call, CancellationToken cancellationToken) =>
        _pipeline.ExecuteAsync(async ct => await call(ct), cancellationToken).AsTask();

    private async Task<GetObjectMetadataResponse?> HeadAsync(string fullKey, CancellationToken cancellationToken)
    {
        try
        {
            return await RunAsync(ct => _client.GetObjectMetadataAsync(new GetObjectMetadataRequest { BucketName = _bucket, Key = fullKey }, ct), cancellationToken);
        }
        catch (AmazonS3Exception ex) when (IsNotFound(ex))
        {
            return null;
        }
    }

    /// <summary>Reads until the part buffer is full or the stream ends (network streams return short reads).</summary>
    private static async Task<(int Filled, bool End)> FillAsync(Stream content, byte[] buffer, int partSize, IncrementalHash hash, CancellationToken cancellationToken)
    {
        var filled = 0;
        while (filled < partSize)
        {
            var read = await content.ReadAsync(buffer.AsMemory(filled, partSize - filled), cancellationToken);
            if (read == 0)
            {
                hash.AppendData(buffer, 0, filled);
                return (filled, true);
            }

            filled += read;
        }

        hash.AppendData(buffer, 0, filled);
        return (filled, false);
    }

    private async Task AbortAsync(string fullKey, string uploadId, Exception cause)
    {
        try
        {
            // Not the caller's token: a cancelled upload must still release its stored parts.
            using var timeout = new CancellationTokenSource(_settings.Timeout);
            await _client.AbortMultipartUploadAsync(new AbortMultipartUploadRequest { BucketName = _bucket, Key = fullKey, UploadId = uploadId }, timeout.Token);
        }
        catch (Exception ex) when (ex is AmazonServiceException or HttpRequestException or IOException or OperationCanceledException)
        {
            // The upload already failed; a lifecycle rule on the bucket cleans what is left.
            _logger.LogWarning(ex, "Could not abort multipart upload {UploadId} of {Key} after {Cause}", uploadId, fullKey, cause.GetType().Name);
        }
    }

    private async ValueTask EnsureBucketAsync(CancellationToken cancellationToken)
    {
        if (_bucketReady)
        {
            return;
        }

        // Lazily and once: start-up must not fail when S3 is down; readiness reports it instead.
        await _bucketLock.WaitAsync(cancellationToken);
        try
        {
            if (_bucketReady)
            {
                return;
            }

            try
            {
                await RunAsync(ct => _client.GetBucketLocationAsync(new GetBucketLocationRequest { BucketName = _bucket }, ct), cancellationToken);
            }
            catch (AmazonS3Exception ex) when (ex.StatusCode == HttpStatusCode.NotFound || ex.ErrorCode == "NoSuchBucket")
            {
                try
                {
                    await RunAsync(ct => _client.PutBucketAsync(new PutBucketRequest { BucketName = _bucket }, ct), cancellationToken);
                    _logger.LogInformation("Created bucket {Bucket}", _bucket);
                }
                catch (AmazonS3Exception race) when (race.ErrorCode is "BucketAlreadyOwnedByYou" or "BucketAlreadyExists")
                {
                    // Another instance created it between our two calls.
                }
            }

            _bucketReady = true;
        }
        finally
        {
            _bucketLock.Release();
        }
    }

    private static bool IsNotFound(AmazonS3Exception exception) =>
        exception.StatusCode == HttpStatusCode.NotFound || exception.ErrorCode is "NoSuchKey" or "NotFound";

    private static DateTimeOffset ToOffset(DateTime? value) => value switch
    {
        null => DateTimeOffset.MinValue,
        { Kind: DateTimeKind.Local } local => new DateTimeOffset(local.ToUniversalTime(), TimeSpan.Zero),
        // The SDK parses HTTP dates as UTC; an unspecified kind is UTC too.
        { } utc => new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc), TimeSpan.Zero),
    };

    private static AmazonS3Client CreateClient(S3StoreSettings settings)
    {
        var config = new AmazonS3Config
        {
            ForcePathStyle = settings.ForcePathStyle,
            // Polly retries; SDK retries on top would multiply attempts and delays.
            MaxErrorRetry = 0,
            // Only a backstop: the pipeline's per-attempt timeout should fire first, with its typed exception.
            Timeout = settings.Timeout + settings.Timeout,
            ConnectTimeout = settings.Timeout < TimeSpan.FromSeconds(10) ? settings.Timeout : TimeSpan.FromSeconds(10),
            // Newer SDKs add CRC checksums by default, which S3-compatible servers often reject or ignore.
            RequestChecksumCalculation = RequestChecksumCalculation.WHEN_REQUIRED,
            ResponseChecksumValidation = ResponseChecksumValidation.WHEN_REQUIRED,
        };
        if (settings.ServiceUrl is not null)
        {
            config.ServiceURL = settings.ServiceUrl.ToString();
            config.AuthenticationRegion = settings.Region;
            config.UseHttp = settings.ServiceUrl.Scheme == Uri.UriSchemeHttp;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(settings.Region);
        }

        return string.IsNullOrEmpty(settings.AccessKey)
            ? new AmazonS3Client(config)
            : new AmazonS3Client(new BasicAWSCredentials(settings.AccessKey, settings.SecretKey), config);
    }

    private static ResiliencePipeline BuildPipeline(S3StoreSettings settings, ILogger logger)
    {
        // Outermost first: retry wraps the breaker, which wraps one timed attempt.
        var builder = new ResiliencePipelineBuilder();
        if (settings.MaxRetries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                MaxRetryAttempts = settings.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.RetryBaseDelay,
                MaxDelay = TimeSpan.FromSeconds(10),
                ShouldHandle = args => ValueTask.FromResult(
                    args.Outcome.Exception is { } ex && !args.Context.CancellationToken.IsCancellationRequested && IsTransient(ex)),
                OnRetry = args =>
                {
                    logger.LogWarning(args.Outcome.Exception, "S3 call failed, retry {Attempt} in {Delay}", args.AttemptNumber + 1, args.RetryDelay);
                    return default;
                },
            });
        }

        builder.AddCircuitBreaker(new CircuitBreakerStrategyOptions
        {
            // Half the calls failing over 30 s (at least 10 calls) opens it for 15 s: fail fast instead of queueing on a dead endpoint.
            FailureRatio = 0.5,
            MinimumThroughput = 10,
            SamplingDuration = TimeSpan.FromSeconds(30),
            BreakDuration = TimeSpan.FromSeconds(15),
            ShouldHandle = args => ValueTask.FromResult(
                args.Outcome.Exception is { } ex && !args.Context.CancellationToken.IsCancellationRequested && IsTransient(ex)),
            OnOpened = args =>
            {
                logger.LogError(args.Outcome.Exception, "S3 circuit opened for {Duration}", args.BreakDuration);
                return default;
            },
        });
        builder.AddTimeout(settings.Timeout);
        return builder.Build();
    }
}
