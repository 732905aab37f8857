using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Amazon.Runtime.Internal.Auth;

namespace MlPlatform.DataPipelines.Training.SageMaker;

/// <summary>An error answer of the SageMaker API: its <c>__type</c> (e.g. ResourceNotFound) and message.</summary>
internal sealed class SageMakerException(int status, string type, string message)
    : Exception($"SageMaker answered {status} {type}: {message}")
{
    public int Status { get; } = status;

    public string Type { get; } = type;

    public string Reason { get; } = message;
}

/// <summary>
/// The three SageMaker operations training needs, over HTTP with the JSON 1.1 protocol
/// (<c>POST /</c>, <c>X-Amz-Target: SageMaker.&lt;Operation&gt;</c>) and SigV4 signatures made by
/// AWSSDK.Core's signer with the service name <c>sagemaker</c>. AWSSDK.SageMaker is not available here.
/// </summary>
internal sealed class SageMakerClient(HttpClient http, SageMakerSettings settings)
{
    public const string ServiceName = "sagemaker";
    public const string ContentType = "application/x-amz-json-1.1";

    public Task<JsonObject> CreateTrainingJobAsync(JsonObject request, CancellationToken cancellationToken) =>
        CallAsync("CreateTrainingJob", request, cancellationToken);

    public Task<JsonObject> DescribeTrainingJobAsync(string name, CancellationToken cancellationToken) =>
        CallAsync("DescribeTrainingJob", new JsonObject { ["TrainingJobName"] = name }, cancellationToken);

    public Task<JsonObject> StopTrainingJobAsync(string name, CancellationToken cancellationToken) =>
        CallAsync("StopTrainingJob", new JsonObject { ["TrainingJobName"] = name }, cancellationToken);

    private async Task<JsonObject> CallAsync(string operation, JsonObject request, CancellationToken cancellationToken)
    {
        var (accessKey, secretKey, sessionToken) = Credentials();
        var body = Encoding.UTF8.GetBytes(request.ToJsonString());
        var endpoint = settings.ServiceUrl;
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase)
        {
            ["Content-Type"] = ContentType,
            ["X-Amz-Target"] = "SageMaker." + operation,
        };
        if (sessionToken is not null)
        {
            headers["X-Amz-Security-Token"] = sessionToken;
        }

        // Sets the host and x-amz-date headers the signature covers.
        var signedAt = AWS4Signer.InitializeHeaders(headers, endpoint, DateTime.UtcNow);
        var bodyHash = Convert.ToHexStringLower(AWS4Signer.ComputeHash(body));
        var signature = Signer.Sign(endpoint, headers, bodyHash, accessKey, secretKey, settings.Region, signedAt);

        using var message = new HttpRequestMessage(HttpMethod.Post, endpoint) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue(ContentType);
        foreach (var (name, value) in headers)
        {
            if (!name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase) && !name.Equals("host", StringComparison.OrdinalIgnoreCase))
            {
                message.Headers.TryAddWithoutValidation(name, value);
            }
        }

        message.Headers.TryAddWithoutValidation("Authorization", signature.ForAuthorizationHeader);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.RequestTimeout);
        using var response = await http.SendAsync(message, timeout.Token);
        var text = await response.Content.ReadAsStringAsync(timeout.Token);
        if (!response.IsSuccessStatusCode)
        {
            var (type, reason) = ParseError(text);
            throw new SageMakerException((int)response.StatusCode, type, reason);
        }

        try
        {
            return text.Length == 0 ? [] : JsonNode.Parse(text) as JsonObject ?? [];
        }
        catch (JsonException)
        {
            throw new SageMakerException((int)response.StatusCode, "InvalidResponse", "The answer is not JSON.");
        }
    }

    /// <summary>JSON 1.1 errors carry <c>__type</c> (possibly "prefix#Name") and <c>message</c> or <c>Message</c>.</summary>
    private static (string Type, string Message) ParseError(string text)
    {
        try
        {
            if (JsonNode.Parse(text) is JsonObject error)
            {
                var type = error["__type"]?.GetValue<string>() ?? "Unknown";
                var reason = (error["message"] ?? error["Message"])?.GetValue<string>() ?? string.Empty;
                return (type[(type.LastIndexOf('#') + 1)..], reason);
            }
        }
        catch (JsonException)
        {
        }

        return ("Unknown", text.Length > 300 ? text[..300] : text);
    }

    private (string AccessKey, string SecretKey, string? SessionToken) Credentials()
    {
        var accessKey = settings.AccessKey ?? Environment.GetEnvironmentVariable("AWS_ACCESS_KEY_ID");
        var secretKey = settings.SecretKey ?? Environment.GetEnvironmentVariable("AWS_SECRET_ACCESS_KEY");
        var token = settings.AccessKey is not null ? settings.SessionToken : Environment.GetEnvironmentVariable("AWS_SESSION_TOKEN");
        if (string.IsNullOrEmpty(accessKey) || string.IsNullOrEmpty(secretKey))
        {
            throw new SageMakerException(0, "MissingCredentials", "No AWS credentials: set Training:SageMaker:AccessKey and SecretKey, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.");
        }

        return (accessKey, secretKey, string.IsNullOrEmpty(token) ? null : token);
    }
}

/// <summary>AWSSDK.Core keeps the canonicalization steps of its SigV4 signer protected; a subclass reaches them.</summary>
internal sealed class Signer : AWS4Signer
{
    public static AWS4SigningResult Sign(Uri endpoint, IDictionary<string, string> headers, string bodyHash, string accessKey, string secretKey, string region, DateTime signedAt)
    {
        var sorted = SortAndPruneHeaders(headers);
        var canonical = CanonicalizeRequest(endpoint, endpoint.AbsolutePath, "POST", sorted, string.Empty, bodyHash);
        return ComputeSignature(accessKey, secretKey, region, signedAt, SageMakerClient.ServiceName, CanonicalizeHeaderNames(sorted), canonical);
    }
}
