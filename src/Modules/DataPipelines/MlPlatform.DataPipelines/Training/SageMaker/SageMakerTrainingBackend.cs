using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Amazon.Runtime;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Training.RemoteJobs;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training.SageMaker;

/// <summary>
/// Trains on SageMaker: CreateTrainingJob once, then DescribeTrainingJob on every resume of the
/// suspended step (the job's name lives in the step's state, so no thread waits and a host restart
/// loses nothing), StopTrainingJob when the step is cancelled or runs past <c>maxWait</c>. Each job
/// is recorded in <see cref="RemoteJobLedger"/> before it is created, so a run that is cancelled or
/// fails while the step is suspended has its job stopped by <see cref="RemoteJobStopper"/>. On
/// completion the model artifact (<c>ModelArtifacts.S3ModelArtifacts</c>) is fetched from S3; the
/// ONNX file inside SageMaker's model.tar.gz becomes the step's model.onnx.
/// </summary>
internal sealed partial class SageMakerTrainingBackend(SageMakerClient client, TrainingSettings settings, IServiceProvider services, RemoteJobLedger ledger) : ITrainingBackend
{
    public const string BackendName = "sagemaker";

    private static readonly string[] Options = ["roleArn", "image", "instanceType", "instanceCount", "volumeSizeGb", "maxRuntime", "maxWait", "pollInterval", "inputUri", "outputPath"];

    public string Name => BackendName;

    [GeneratedRegex(@"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$", RegexOptions.CultureInvariant)]
    private static partial Regex RoleArn();

    [GeneratedRegex(@"^(https|s3)://([^/]+)/?(.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex S3Uri();

    [GeneratedRegex(@"^ml\.[a-z0-9]+\.[a-z0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex InstanceType();

    [GeneratedRegex(@"[^a-zA-Z0-9]+", RegexOptions.CultureInvariant)]
    private static partial Regex NotAlphanumeric();

    public void Validate(TrainingTask? task, string? trainer, JsonObject? hyperparameters, JsonObject? options, List<StepParameterError> errors)
    {
        if (options is null)
        {
            errors.Add(new StepParameterError("sagemaker", "The sagemaker backend needs a 'sagemaker' object with at least roleArn and image."));
            return;
        }

        foreach (var (name, value) in options)
        {
            if (!Options.Contains(name))
            {
                errors.Add(new StepParameterError($"sagemaker.{name}", $"Unknown SageMaker option '{name}' (known: {string.Join(", ", Options)})."));
            }
            else if (!StepTemplates.IsTemplated(value) && Check(name, value) is { } problem)
            {
                errors.Add(new StepParameterError($"sagemaker.{name}", problem));
            }
        }

        foreach (var required in new[] { "roleArn", "image" })
        {
            if (!options.ContainsKey(required))
            {
                errors.Add(new StepParameterError($"sagemaker.{required}", $"The SageMaker option '{required}' is required."));
            }
        }

        foreach (var (name, value) in hyperparameters ?? [])
        {
            // SageMaker takes hyper-parameters as a map of strings (at most 100, values up to 2500 characters).
            if (value is not JsonValue || value.GetValueKind() is System.Text.Json.JsonValueKind.Null || value.ToJsonString().Length > 2500)
            {
                errors.Add(new StepParameterError($"hyperparameters.{name}", "SageMaker hyper-parameters are strings, numbers or booleans of up to 2500 characters."));
            }
        }

        if (hyperparameters?.Count > 100)
        {
            errors.Add(new StepParameterError("hyperparameters", "SageMaker takes at most 100 hyper-parameters."));
        }
    }

    private static string? Check(string name, JsonNode? value)
    {
        string? Text() => value is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        int? Int() => ParameterTypes.TryGetNumber(value, out var n) && Math.Floor(n) == n && n is >= 1 and <= int.MaxValue ? (int)n : null;
        return name switch
        {
            "roleArn" => Text() is { } arn && RoleArn().IsMatch(arn) ? null : "An IAM role ARN (arn:aws:iam::123456789012:role/Name) is expected.",
            "image" => Text() is { Length: > 0 and <= 255 } ? null : "A training image URI of up to 255 characters is expected.",
            "instanceType" => Text() is { } type && InstanceType().IsMatch(type) ? null : "An instance type such as ml.m5.large is expected.",
            "instanceCount" or "volumeSizeGb" => Int() is not null ? null : "A positive whole number is expected.",
            "maxRuntime" or "maxWait" or "pollInterval" => ParameterTypes.Check(ParameterType.Duration, value),
            "inputUri" or "outputPath" => Text() is { } uri && uri.StartsWith("s3://", StringComparison.Ordinal) && S3Uri().IsMatch(uri) ? null : "An s3://bucket/path URI is expected.",
            _ => null,
        };
    }

    public async Task<TrainingProgress> TrainAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var options = job.Options ?? [];
        var poll = Duration(options, "pollInterval") ?? settings.SageMaker.PollInterval;
        var now = job.Clock.GetUtcNow();
        if (job.State is not JsonObject state)
        {
            try
            {
                state = await StartAsync(job, options, now, cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Cancelled while creating: the job may exist now; its name is this attempt's own.
                await StopAsync(job, JobName(job));
                throw;
            }

            return new TrainingProgress.Pending(now + poll, state);
        }

        var name = state["jobName"]!.GetValue<string>();
        try
        {
            var described = await Call(() => client.DescribeTrainingJobAsync(name, cancellationToken));
            var status = described["TrainingJobStatus"]?.GetValue<string>();
            job.Log.Info($"SageMaker job {name}: {status} ({described["SecondaryStatus"]?.GetValue<string>()}).");
            switch (status)
            {
                case "Completed":
                    await ledger.FinishAsync(BackendName, name, RemoteJobLedger.Completed, now, cancellationToken);
                    return await CompleteAsync(job, name, described, cancellationToken);
                case "Failed":
                    await ledger.FinishAsync(BackendName, name, RemoteJobLedger.Failed, now, cancellationToken);
                    throw new StepFailedException($"SageMaker training job {name} failed: {described["FailureReason"]?.GetValue<string>() ?? "no reason given"}", retryable: false);
                case "Stopped":
                    await ledger.FinishAsync(BackendName, name, RemoteJobLedger.Stopped, now, cancellationToken);
                    throw new StepFailedException($"SageMaker training job {name} was stopped.", retryable: false);
            }

            if (now >= DateTimeOffset.Parse(state["deadline"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture))
            {
                await StopAsync(job, name);
                throw new StepFailedException($"SageMaker training job {name} did not finish within maxWait; it was stopped.", retryable: false);
            }

            return new TrainingProgress.Pending(now + poll, state);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The run was cancelled or the step timed out while we were looking: do not leave the job running.
            await StopAsync(job, name);
            throw;
        }
    }

    /// <summary>True while the job exists and has not failed or been stopped (a completed one is fetched as usual).</summary>
    private async Task<bool> IsLiveAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var described = await Call(() => client.DescribeTrainingJobAsync(name, cancellationToken));
            return described["TrainingJobStatus"]?.GetValue<string>() is not ("Failed" or "Stopped");
        }
        catch (StepFailedException ex) when (ex.InnerException is SageMakerException { Type: "ValidationException" or "ResourceNotFound" })
        {
            return false;
        }
    }

    private async Task<JsonObject> StartAsync(TrainingJob job, JsonObject options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var marker = job.KeyPrefix + "sagemaker-job.json";
        string name;
        var earlier = await ReadMarkerAsync(job.Store, marker, cancellationToken);
        if (earlier is not null && !await IsLiveAsync(earlier, cancellationToken))
        {
            await ledger.FinishAsync(BackendName, earlier, RemoteJobLedger.NotRunning, now, cancellationToken);
            job.Log.Info($"SageMaker job {earlier} of an earlier attempt is over or was never created; starting a new one.");
            earlier = null;
        }

        if (earlier is not null)
        {
            // An earlier attempt created the job and its host died before the step could suspend: carry on with that job.
            name = earlier;
            await ledger.RecordAsync(job, BackendName, name, cancellationToken);
            job.Log.Info($"Continuing SageMaker job {name} started by an earlier attempt.");
        }
        else
        {
            name = JobName(job);
            var request = CreateRequest(job, options, name);
            await using (var content = new MemoryStream(System.Text.Encoding.UTF8.GetBytes(new JsonObject { ["jobName"] = name }.ToJsonString())))
            {
                // Written before the job is created, so a host that dies in between leaves the name behind.
                await job.Store.PutAsync(marker, content, "application/json", cancellationToken);
            }

            // Recorded before the job exists too: a cancel that comes while the step is suspended finds it here.
            await ledger.RecordAsync(job, BackendName, name, cancellationToken);

            try
            {
                var created = await Call(() => client.CreateTrainingJobAsync(request, cancellationToken));
                job.Log.Info($"Created SageMaker training job {created["TrainingJobArn"]?.GetValue<string>() ?? name}.");
            }
            catch (StepFailedException ex) when (ex.InnerException is SageMakerException { Type: "ResourceInUse" })
            {
                job.Log.Info($"SageMaker job {name} exists already; following it.");
            }
        }

        var maxRuntime = Duration(options, "maxRuntime") ?? TimeSpan.FromHours(1);
        var maxWait = Duration(options, "maxWait") ?? maxRuntime + TimeSpan.FromHours(1);
        return new JsonObject
        {
            ["jobName"] = name,
            ["startedAt"] = now.ToString("O"),
            ["deadline"] = (now + maxWait).ToString("O"),
        };
    }

    private JsonObject CreateRequest(TrainingJob job, JsonObject options, string name)
    {
        var inputUri = Text(options, "inputUri") ?? S3UriOf(job.Store, job.DataKey)
            ?? throw new StepFailedException("The artifact store is not S3, so SageMaker cannot read the data: give sagemaker.inputUri.", retryable: false);
        // The store's keys have no trailing '/', so the folder's URI is the key's plus one.
        var outputPath = Text(options, "outputPath") ?? (S3UriOf(job.Store, job.KeyPrefix + "sagemaker") is { } folder ? folder + "/" : null)
            ?? throw new StepFailedException("The artifact store is not S3: give sagemaker.outputPath for the model artifact.", retryable: false);
        // Derived from the step's data key (checked by the step) and run folder, the defaults need no check.
        CheckOwnStore(job, "inputUri", Text(options, "inputUri"), read: true);
        CheckOwnStore(job, "outputPath", Text(options, "outputPath"), read: false);
        var maxRuntime = Duration(options, "maxRuntime") ?? TimeSpan.FromHours(1);
        var hyperparameters = new JsonObject();
        foreach (var (key, value) in job.Hyperparameters)
        {
            hyperparameters[key] = value is JsonValue v && v.TryGetValue<string>(out var s) ? s : value?.ToJsonString();
        }

        return new JsonObject
        {
            ["TrainingJobName"] = name,
            ["HyperParameters"] = hyperparameters,
            ["AlgorithmSpecification"] = new JsonObject
            {
                ["TrainingImage"] = Text(options, "image"),
                ["TrainingInputMode"] = "File",
            },
            ["RoleArn"] = Text(options, "roleArn"),
            ["InputDataConfig"] = new JsonArray(new JsonObject
            {
                ["ChannelName"] = "train",
                ["DataSource"] = new JsonObject
                {
                    ["S3DataSource"] = new JsonObject
                    {
                        ["S3DataType"] = "S3Prefix",
                        ["S3Uri"] = inputUri,
                        ["S3DataDistributionType"] = "FullyReplicated",
                    },
                },
                ["ContentType"] = job.DataKey.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) ? "text/csv"
                    : job.DataKey.EndsWith(".parquet", StringComparison.OrdinalIgnoreCase) ? "application/x-parquet" : "application/jsonlines",
                ["CompressionType"] = "None",
            }),
            ["OutputDataConfig"] = new JsonObject { ["S3OutputPath"] = outputPath },
            ["ResourceConfig"] = new JsonObject
            {
                ["InstanceType"] = Text(options, "instanceType") ?? "ml.m5.large",
                ["InstanceCount"] = Int(options, "instanceCount") ?? 1,
                ["VolumeSizeInGB"] = Int(options, "volumeSizeGb") ?? 10,
            },
            ["StoppingCondition"] = new JsonObject { ["MaxRuntimeInSeconds"] = (int)Math.Max(1, maxRuntime.TotalSeconds) },
            ["Tags"] = new JsonArray(
                new JsonObject { ["Key"] = "mlplatform:run", ["Value"] = job.RunId.ToString() },
                new JsonObject { ["Key"] = "mlplatform:step", ["Value"] = job.StepId }),
        };
    }

    private async Task<TrainingProgress> CompleteAsync(TrainingJob job, string name, JsonObject described, CancellationToken cancellationToken)
    {
        var artifact = described["ModelArtifacts"]?["S3ModelArtifacts"]?.GetValue<string>()
            ?? throw new StepFailedException($"SageMaker job {name} completed without ModelArtifacts.S3ModelArtifacts.", retryable: false);
        var (bytes, fileName) = await DownloadAsync(job.Store, artifact, cancellationToken);
        var (content, key) = ExtractOnnx(bytes) is { } onnx ? (onnx, job.ModelKey) : (bytes, job.KeyPrefix + fileName);
        await using (var stream = new MemoryStream(content, writable: false))
        {
            await job.Store.PutAsync(key, stream, "application/octet-stream", cancellationToken);
        }

        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var metric in described["FinalMetricDataList"]?.AsArray() ?? [])
        {
            if (metric?["MetricName"]?.GetValue<string>() is { } metricName && ParameterTypes.TryGetNumber(metric["Value"], out var value) && double.IsFinite(value))
            {
                // Names like "validation:accuracy" become "validation_accuracy", reachable from templates.
                metrics[NotAlphanumeric().Replace(metricName, "_").Trim('_')] = value;
            }
        }

        job.Log.Info($"SageMaker job {name} completed; model artifact {artifact} stored as '{key}'.");
        return new TrainingProgress.Completed(key, metrics, new Dictionary<string, JsonNode?>
        {
            ["trainingJobName"] = name,
            ["trainingJobArn"] = described["TrainingJobArn"]?.GetValue<string>(),
            ["sourceArtifact"] = artifact,
        });
    }

    /// <summary>The first .onnx file in a gzipped tar (SageMaker's model.tar.gz); null when there is none or it is no tarball.</summary>
    internal static byte[]? ExtractOnnx(byte[] archive)
    {
        if (archive.Length < 2 || archive[0] != 0x1f || archive[1] != 0x8b)
        {
            return null;
        }

        try
        {
            using var gzip = new GZipStream(new MemoryStream(archive), CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } entry)
            {
                if (entry.EntryType is TarEntryType.RegularFile or TarEntryType.V7RegularFile && entry.Name.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && entry.DataStream is { } data)
                {
                    using var buffer = new MemoryStream();
                    data.CopyTo(buffer);
                    return buffer.ToArray();
                }
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or FormatException or EndOfStreamException)
        {
            return null;
        }

        return null;
    }

    /// <summary>From the platform's own store when the URI points into it; otherwise with an S3 client of the SageMaker settings.</summary>
    private async Task<(byte[] Bytes, string FileName)> DownloadAsync(IObjectStore store, string uri, CancellationToken cancellationToken)
    {
        var match = S3Uri().Match(uri);
        if (!match.Success || match.Groups[1].Value != "s3")
        {
            throw new StepFailedException($"The model artifact '{uri}' is not an s3:// URI.", retryable: false);
        }

        var bucket = match.Groups[2].Value;
        var key = match.Groups[3].Value;
        var fileName = key.Contains('/', StringComparison.Ordinal) ? key[(key.LastIndexOf('/') + 1)..] : key;
        using var buffer = new MemoryStream();
        var platform = services.GetService<S3StoreSettings>();
        var prefix = platform?.Prefix.Trim('/') is { Length: > 0 } p ? p + "/" : string.Empty;
        if (store.Backend == "s3" && platform is not null && platform.Bucket == bucket && key.StartsWith(prefix, StringComparison.Ordinal))
        {
            await using var stream = await store.OpenReadAsync(key[prefix.Length..], cancellationToken);
            await stream.CopyToAsync(buffer, cancellationToken);
            return (buffer.ToArray(), fileName);
        }

        var sageMaker = settings.SageMaker;
        var config = new AmazonS3Config
        {
            AuthenticationRegion = sageMaker.Region,
            ForcePathStyle = sageMaker.S3ForcePathStyle,
        };
        if (sageMaker.S3ServiceUrl is not null)
        {
            config.ServiceURL = sageMaker.S3ServiceUrl.ToString();
        }
        else
        {
            config.RegionEndpoint = Amazon.RegionEndpoint.GetBySystemName(sageMaker.Region);
        }

        using var s3 = sageMaker.AccessKey is not null
            ? new AmazonS3Client(new BasicAWSCredentials(sageMaker.AccessKey, sageMaker.SecretKey), config)
            : new AmazonS3Client(config);
        try
        {
            using var response = await s3.GetObjectAsync(bucket, key, cancellationToken);
            await response.ResponseStream.CopyToAsync(buffer, cancellationToken);
        }
        catch (AmazonS3Exception ex)
        {
            throw new StepFailedException($"Could not fetch the model artifact '{uri}': {ex.Message}", retryable: ex.StatusCode >= System.Net.HttpStatusCode.InternalServerError, ex);
        }

        return (buffer.ToArray(), fileName);
    }

    private async Task StopAsync(TrainingJob job, string name)
    {
        try
        {
            using var timeout = new CancellationTokenSource(settings.SageMaker.RequestTimeout);
            await client.StopTrainingJobAsync(name, timeout.Token);
            job.Log.Warning($"Asked SageMaker to stop training job {name}.");
            await ledger.FinishAsync(BackendName, name, RemoteJobLedger.StopRequested, job.Clock.GetUtcNow(), timeout.Token);
        }
        catch (Exception ex) when (ex is SageMakerException or HttpRequestException or OperationCanceledException or Microsoft.EntityFrameworkCore.DbUpdateException)
        {
            job.Log.Error($"Could not stop SageMaker training job {name}: {ex.Message}");
        }
    }

    /// <summary>SageMaker errors become step failures: throttling and server errors are retryable, the rest not.</summary>
    private static async Task<JsonObject> Call(Func<Task<JsonObject>> call)
    {
        try
        {
            return await call();
        }
        catch (SageMakerException ex)
        {
            var retryable = ex.Status >= 500 || ex.Type is "ThrottlingException" or "ResourceLimitExceeded";
            throw new StepFailedException($"SageMaker refused: {ex.Type}: {ex.Reason}", retryable, ex);
        }
        catch (HttpRequestException ex)
        {
            throw new StepFailedException($"SageMaker is unreachable: {ex.Message}", retryable: true, ex);
        }
    }

    private static async Task<string?> ReadMarkerAsync(IObjectStore store, string key, CancellationToken cancellationToken)
    {
        if (!await store.ExistsAsync(key, cancellationToken))
        {
            return null;
        }

        await using var stream = await store.OpenReadAsync(key, cancellationToken);
        return (await JsonNode.ParseAsync(stream, cancellationToken: cancellationToken))?["jobName"]?.GetValue<string>();
    }

    /// <summary>Unique per run, step and attempt, within SageMaker's 63 characters of [a-zA-Z0-9-].</summary>
    internal static string JobName(TrainingJob job)
    {
        var step = NotAlphanumeric().Replace(job.StepId, "-").Trim('-');
        var suffix = $"-{job.RunId.ToString("N")[..12]}-{job.Attempt}";
        var head = ("mlp-" + step)[..Math.Min(63 - suffix.Length, 4 + step.Length)].TrimEnd('-');
        return head + suffix;
    }

    /// <summary>
    /// A URI into the platform's own bucket names a key there, and SageMaker's role can usually read
    /// and write all of it: keep such keys to the project's areas (<see cref="ProjectAreas"/>), as the
    /// store's other users do. URIs into other buckets are the caller's own to grant.
    /// </summary>
    private static void CheckOwnStore(TrainingJob job, string option, string? uri, bool read)
    {
        // The store's URI of a one-letter key, less the letter: the bucket (and the store's prefix, if any).
        if (uri is null || S3UriOf(job.Store, "x") is not { } probe || !uri.StartsWith(probe[..^1], StringComparison.Ordinal))
        {
            return;
        }

        var bucket = probe[..^1];

        var key = uri[bucket.Length..];
        var areas = new ProjectAreas(job.ProjectId, null, job.RunId);
        if (key.Contains("..", StringComparison.Ordinal) || !(read ? areas.CanRead(key) : areas.CanWrite(key)))
        {
            throw new StepFailedException($"sagemaker.{option}: '{uri}' is in the platform's store outside this project's areas ({string.Join(", ", read ? areas.Readable : areas.Writable)}).", retryable: false);
        }
    }

    private static string? S3UriOf(IObjectStore store, string key) =>
        store.Backend == "s3" ? store.UriOf(key).ToString() : null;

    private static string? Text(JsonObject options, string name) =>
        options[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static int? Int(JsonObject options, string name) =>
        ParameterTypes.TryGetNumber(options[name], out var n) ? (int)n : null;

    private static TimeSpan? Duration(JsonObject options, string name) =>
        Text(options, name) is { } text && Durations.TryParse(text, out var duration, out _) ? duration : null;
}
