using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MlPlatform.IntegrationTests.Training;

/// <summary>
/// A stand-in for the SageMaker API on 127.0.0.1: it checks every request as the real service would
/// — the SigV4 signature recomputed here from the raw request (service <c>sagemaker</c>), the JSON 1.1
/// protocol headers, and the request members against the shapes of botocore's
/// <c>sagemaker/2017-07-24/service-2.json</c> — and plays training jobs by their image name:
/// "fail" fails on the second look, "slow" never finishes, anything else is InProgress once and then
/// Completed, its model.tar.gz written where the job's OutputDataConfig says.
/// </summary>
public sealed partial class SageMakerStandIn : IAsyncDisposable
{
    public const string AccessKey = "AKIDSTANDIN0000001";
    public const string SecretKey = "stand-in-secret/key+0123456789";
    public const string Region = "eu-west-1";

    private readonly WebApplication _app;
    private readonly Func<string, byte[], Task<string>> _writeModel;

    private SageMakerStandIn(WebApplication app, Func<string, byte[], Task<string>> writeModel)
    {
        _app = app;
        _writeModel = writeModel;
    }

    public Uri Url { get; private set; } = null!;

    /// <summary>Whatever was wrong with a request (bad signature, bad shape); the tests expect none.</summary>
    public ConcurrentQueue<string> Problems { get; } = new();

    public ConcurrentQueue<(string Operation, JsonObject Body)> Calls { get; } = new();

    public ConcurrentDictionary<string, Job> Jobs { get; } = new();

    public byte[] ModelTarball { get; set; } = [];

    private int _hanging;

    /// <summary>DescribeTrainingJob calls of "hang" jobs still waiting for their answer.</summary>
    public int Hanging => Volatile.Read(ref _hanging);

    public sealed class Job(JsonObject request)
    {
        public JsonObject Request { get; } = request;

        public int Describes { get; set; }

        public string Status { get; set; } = "InProgress";

        public bool StopRequested { get; set; }

        public string? ArtifactUri { get; set; }
    }

    /// <param name="writeModel">Writes the bytes to an s3:// URI (the platform's S3 store) and returns it.</param>
    public static async Task<SageMakerStandIn> StartAsync(Func<string, byte[], Task<string>> writeModel)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var standIn = new SageMakerStandIn(app, writeModel);
        app.MapPost("/", (Delegate)standIn.HandleAsync);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        standIn.Url = new Uri(address.EndsWith('/') ? address : address + "/");
        return standIn;
    }

    private async Task<IResult> HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();

        if (CheckSignature(context.Request, body) is { } signatureProblem)
        {
            Problems.Enqueue(signatureProblem);
            return Error(403, "InvalidSignatureException", signatureProblem);
        }

        if (context.Request.ContentType != "application/x-amz-json-1.1")
        {
            Problems.Enqueue($"Content-Type '{context.Request.ContentType}'");
            return Error(400, "SerializationException", "Content-Type must be application/x-amz-json-1.1.");
        }

        var target = context.Request.Headers["X-Amz-Target"].ToString();
        if (!target.StartsWith("SageMaker.", StringComparison.Ordinal))
        {
            Problems.Enqueue($"X-Amz-Target '{target}'");
            return Error(400, "UnknownOperationException", target);
        }

        if (JsonNode.Parse(body) is not JsonObject request)
        {
            Problems.Enqueue("body is not a JSON object");
            return Error(400, "SerializationException", "Not a JSON object.");
        }

        var operation = target["SageMaker.".Length..];
        Calls.Enqueue((operation, request));
        var shapeProblems = CheckShape(operation, request);
        if (shapeProblems.Count > 0)
        {
            foreach (var problem in shapeProblems)
            {
                Problems.Enqueue($"{operation}: {problem}");
            }

            return Error(400, "ValidationException", string.Join("; ", shapeProblems));
        }

        var name = request["TrainingJobName"]!.GetValue<string>();
        switch (operation)
        {
            case "CreateTrainingJob":
                if (!Jobs.TryAdd(name, new Job(request)))
                {
                    return Error(400, "ResourceInUse", $"Training job names must be unique within an AWS account and region, and a training job with this name already exists ({name})");
                }

                return Results.Json(new JsonObject { ["TrainingJobArn"] = Arn(name) }, contentType: "application/x-amz-json-1.1");

            case "DescribeTrainingJob":
                if (!Jobs.TryGetValue(name, out var job))
                {
                    return Error(400, "ValidationException", "Requested resource not found.");
                }

                job.Describes++;
                var image = job.Request["AlgorithmSpecification"]!["TrainingImage"]!.GetValue<string>();
                if (image.Contains("hang", StringComparison.Ordinal))
                {
                    // A slow answer, so the step is still waiting for it when it is cancelled or times out.
                    Interlocked.Increment(ref _hanging);
                    try
                    {
                        await Task.Delay(TimeSpan.FromSeconds(5), context.RequestAborted);
                    }
                    catch (OperationCanceledException)
                    {
                        return Results.Empty;
                    }
                    finally
                    {
                        Interlocked.Decrement(ref _hanging);
                    }
                }

                if (job.Status == "InProgress" && job.StopRequested)
                {
                    job.Status = "Stopped";
                }
                else if (job.Status == "InProgress" && job.Describes >= 2 && image.Contains("fail", StringComparison.Ordinal))
                {
                    job.Status = "Failed";
                }
                else if (job.Status == "InProgress" && job.Describes >= 2 && !image.Contains("slow", StringComparison.Ordinal))
                {
                    var output = job.Request["OutputDataConfig"]!["S3OutputPath"]!.GetValue<string>().TrimEnd('/');
                    job.ArtifactUri = await _writeModel($"{output}/{name}/output/model.tar.gz", ModelTarball);
                    job.Status = "Completed";
                }

                return Results.Json(Describe(name, job), contentType: "application/x-amz-json-1.1");

            default: // StopTrainingJob
                if (!Jobs.TryGetValue(name, out var stopping))
                {
                    return Error(400, "ValidationException", "Requested resource not found.");
                }

                stopping.StopRequested = true;
                return Results.Text(string.Empty, "application/x-amz-json-1.1");
        }
    }

    private static string Arn(string name) => $"arn:aws:sagemaker:{Region}:123456789012:training-job/{name.ToLowerInvariant()}";

    private static JsonObject Describe(string name, Job job)
    {
        var created = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        var response = new JsonObject
        {
            ["TrainingJobName"] = name,
            ["TrainingJobArn"] = Arn(name),
            ["ModelArtifacts"] = new JsonObject { ["S3ModelArtifacts"] = job.ArtifactUri ?? string.Empty },
            ["TrainingJobStatus"] = job.Status,
            ["SecondaryStatus"] = job.Status switch { "Completed" => "Completed", "Failed" => "Failed", "Stopped" => "Stopped", _ => "Training" },
            ["AlgorithmSpecification"] = job.Request["AlgorithmSpecification"]!.DeepClone(),
            ["ResourceConfig"] = job.Request["ResourceConfig"]!.DeepClone(),
            ["StoppingCondition"] = job.Request["StoppingCondition"]!.DeepClone(),
            ["HyperParameters"] = job.Request["HyperParameters"]?.DeepClone(),
            ["RoleArn"] = job.Request["RoleArn"]!.DeepClone(),
            ["CreationTime"] = created,
        };
        if (job.Status == "Failed")
        {
            response["FailureReason"] = "AlgorithmError: ClientError: label column 'churn' has 3 distinct values, expected 2";
        }

        if (job.Status == "Completed")
        {
            response["FinalMetricDataList"] = new JsonArray(
                new JsonObject { ["MetricName"] = "validation:accuracy", ["Value"] = 0.91, ["Timestamp"] = created },
                new JsonObject { ["MetricName"] = "train:logloss", ["Value"] = 0.25, ["Timestamp"] = created });
        }

        return response;
    }

    private static IResult Error(int status, string type, string message) =>
        Results.Json(new JsonObject { ["__type"] = type, ["message"] = message }, statusCode: status, contentType: "application/x-amz-json-1.1");

    [GeneratedRegex(@"^AWS4-HMAC-SHA256 Credential=(?<key>[^/]+)/(?<date>\d{8})/(?<region>[^/]+)/(?<service>[^/]+)/aws4_request, ?SignedHeaders=(?<headers>[a-z0-9;-]+), ?Signature=(?<signature>[0-9a-f]{64})$")]
    private static partial Regex AuthorizationHeader();

    /// <summary>SigV4 as the AWS documentation defines it, computed independently of the SDK under test.</summary>
    private static string? CheckSignature(HttpRequest request, byte[] body)
    {
        var match = AuthorizationHeader().Match(request.Headers.Authorization.ToString());
        if (!match.Success)
        {
            return $"Authorization header '{request.Headers.Authorization}' is not SigV4.";
        }

        if (match.Groups["key"].Value != AccessKey || match.Groups["region"].Value != Region || match.Groups["service"].Value != "sagemaker")
        {
            return $"Credential scope {match.Groups["key"].Value}/{match.Groups["region"].Value}/{match.Groups["service"].Value} is not {AccessKey}/{Region}/sagemaker.";
        }

        var amzDate = request.Headers["X-Amz-Date"].ToString();
        if (!DateTimeOffset.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var signedAt)
            || Math.Abs((DateTimeOffset.UtcNow - signedAt).TotalMinutes) > 5 || amzDate[..8] != match.Groups["date"].Value)
        {
            return $"X-Amz-Date '{amzDate}' is missing, stale or does not match the scope.";
        }

        var signedHeaders = match.Groups["headers"].Value.Split(';');
        foreach (var required in new[] { "host", "x-amz-date", "x-amz-target", "content-type" })
        {
            if (!signedHeaders.Contains(required))
            {
                return $"The header '{required}' is not signed.";
            }
        }

        var canonical = new StringBuilder()
            .Append(request.Method).Append('\n')
            .Append(string.IsNullOrEmpty(request.Path.Value) ? "/" : request.Path.Value).Append('\n')
            .Append(request.QueryString.HasValue ? request.QueryString.Value![1..] : string.Empty).Append('\n');
        foreach (var header in signedHeaders)
        {
            var value = header == "host" ? request.Host.Value : request.Headers[header].ToString();
            canonical.Append(header).Append(':').Append(Regex.Replace(value!.Trim(), " +", " ")).Append('\n');
        }

        canonical.Append('\n').Append(string.Join(';', signedHeaders)).Append('\n').Append(Convert.ToHexStringLower(SHA256.HashData(body)));
        var scope = $"{match.Groups["date"].Value}/{Region}/sagemaker/aws4_request";
        var stringToSign = $"AWS4-HMAC-SHA256\n{amzDate}\n{scope}\n{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var key = Encoding.UTF8.GetBytes("AWS4" + SecretKey);
        foreach (var part in new[] { match.Groups["date"].Value, Region, "sagemaker", "aws4_request" })
        {
            key = HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(part));
        }

        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(stringToSign)));
        return expected == match.Groups["signature"].Value ? null : $"Signature mismatch; canonical request was:\n{canonical}";
    }

    // Members and constraints of the request shapes in botocore's sagemaker/2017-07-24/service-2.json.
    private static readonly string[] CreateMembers =
    [
        "TrainingJobName", "HyperParameters", "AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig", "ResourceConfig",
        "VpcConfig", "StoppingCondition", "Tags", "EnableNetworkIsolation", "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
        "CheckpointConfig", "DebugHookConfig", "DebugRuleConfigurations", "TensorBoardOutputConfig", "ExperimentConfig", "ProfilerConfig",
        "ProfilerRuleConfigurations", "Environment", "RetryStrategy",
    ];

    [GeneratedRegex(@"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")]
    private static partial Regex TrainingJobName();

    [GeneratedRegex(@"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$")]
    private static partial Regex RoleArn();

    [GeneratedRegex(@"^(https|s3)://([^/]+)/?(.*)$")]
    private static partial Regex S3Uri();

    private static List<string> CheckShape(string operation, JsonObject request)
    {
        var problems = new List<string>();
        void Require(bool condition, string problem)
        {
            if (!condition)
            {
                problems.Add(problem);
            }
        }

        string? Text(JsonNode? node) => node is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        bool Int(JsonNode? node, int min) => node is JsonValue v && v.TryGetValue<int>(out var i) && i >= min;

        var name = Text(request["TrainingJobName"]);
        Require(name is not null && name.Length <= 63 && TrainingJobName().IsMatch(name), $"TrainingJobName '{name}' does not match the shape.");
        if (operation is "DescribeTrainingJob" or "StopTrainingJob")
        {
            Require(request.Count == 1, $"unexpected members {string.Join(", ", request.Select(p => p.Key).Where(k => k != "TrainingJobName"))}");
            return problems;
        }

        Require(operation == "CreateTrainingJob", $"unexpected operation {operation}");
        foreach (var (member, _) in request)
        {
            Require(CreateMembers.Contains(member), $"unknown member {member}");
        }

        Require(Text(request["RoleArn"]) is { Length: >= 20 and <= 2048 } arn && RoleArn().IsMatch(arn), "RoleArn does not match the shape.");
        var algorithm = request["AlgorithmSpecification"] as JsonObject;
        Require(algorithm is not null && Text(algorithm["TrainingInputMode"]) is "Pipe" or "File" or "FastFile", "AlgorithmSpecification.TrainingInputMode is required (Pipe, File or FastFile).");
        Require(algorithm?["TrainingImage"] is not null || algorithm?["AlgorithmName"] is not null, "AlgorithmSpecification needs TrainingImage or AlgorithmName.");
        Require(request["OutputDataConfig"] is JsonObject output && Text(output["S3OutputPath"]) is { } path && S3Uri().IsMatch(path), "OutputDataConfig.S3OutputPath is required and an S3 URI.");
        Require(request["ResourceConfig"] is JsonObject resources && Int(resources["VolumeSizeInGB"], 1) && (resources["InstanceCount"] is null || Int(resources["InstanceCount"], 0)), "ResourceConfig.VolumeSizeInGB is required (>= 1).");
        Require(request["StoppingCondition"] is JsonObject stopping && (stopping["MaxRuntimeInSeconds"] is null || Int(stopping["MaxRuntimeInSeconds"], 1)), "StoppingCondition is required.");
        if (request["HyperParameters"] is JsonObject hyperparameters)
        {
            Require(hyperparameters.Count <= 100 && hyperparameters.All(h => Text(h.Value) is { Length: <= 2500 }), "HyperParameters is a map of strings.");
        }

        foreach (var channel in request["InputDataConfig"]?.AsArray() ?? [])
        {
            Require(Text(channel?["ChannelName"]) is { Length: >= 1 and <= 64 }, "Channel.ChannelName is required.");
            var s3 = channel?["DataSource"]?["S3DataSource"];
            Require(s3 is not null && Text(s3["S3DataType"]) is "ManifestFile" or "S3Prefix" or "AugmentedManifestFile" && Text(s3["S3Uri"]) is { } uri && S3Uri().IsMatch(uri), "S3DataSource needs S3DataType and S3Uri.");
        }

        return problems;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
