using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Uploads;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>
/// An uploaded model file spooled to a temporary file (deleted on dispose), with the form fields
/// or query values sent beside it. Spooling lets ONNX Runtime check the file before anything
/// reaches the artifact store, and keeps memory flat whatever the model's size.
/// </summary>
public sealed record VersionLineage(string? WorkflowRun, string? Step, string? CodeVersion, IReadOnlyList<string> Datasets, int? ParentVersion, string? SourceArtifact = null);

public sealed class ModelUpload : IAsyncDisposable
{
    private const int MaxFieldBytes = 64 * 1024;

    private static readonly string[] FieldNames = ["description", "metrics", "params", "lineage"];

    private const int MaxJsonBodyBytes = 256 * 1024;

    private ModelUpload(string path, long size, string? description, string? metrics, string? parameters, string? lineage, string? artifactKey = null)
    {
        Path = path;
        Size = size;
        ArtifactKey = artifactKey;
        Description = description;
        Metrics = metrics;
        Params = parameters;
        Lineage = lineage;
    }

    public string Path { get; }

    /// <summary>0 until <see cref="FetchAsync"/> copied a named artifact into <see cref="Path"/>.</summary>
    public long Size { get; private set; }

    /// <summary>The object key named in a JSON request (register from the artifact store); null for an upload.</summary>
    public string? ArtifactKey { get; }

    public string? Description { get; }

    /// <summary>A JSON object of numbers, as sent (checked by <see cref="ParseMetrics"/>).</summary>
    public string? Metrics { get; }

    /// <summary>A JSON object, as sent (checked by <see cref="ParseParams"/>).</summary>
    public string? Params { get; }

    /// <summary>A JSON object, as sent (checked by <see cref="ParseLineage"/>).</summary>
    public string? Lineage { get; }

    public Stream OpenRead() => new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 81920, FileOptions.Asynchronous | FileOptions.SequentialScan);

    /// <summary>Reads a multipart/form-data body (field <c>file</c>) or a raw application/octet-stream body.</summary>
    public static async Task<ModelUpload> ReadAsync(HttpRequest request, long maxBytes, CancellationToken cancellationToken)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var name in FieldNames)
        {
            if (request.Query.TryGetValue(name, out var value) && !StringValues.IsNullOrEmpty(value))
            {
                fields[name] = value.ToString();
            }
        }

        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType))
        {
            throw new UnsupportedMediaTypeException("Send the model as multipart/form-data (field 'file') or as application/octet-stream.");
        }

        // A fresh folder per upload: an ONNX file may name external data files relative to its own
        // folder, and ONNX Runtime must find nothing there but the model itself.
        var folder = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlp-upload-" + Guid.NewGuid().ToString("N")));
        var path = System.IO.Path.Combine(folder.FullName, "model.onnx");
        long? size = null;
        try
        {
            if (contentType.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase))
            {
                return await ReadJsonAsync(request.Body, path, cancellationToken);
            }

            if (contentType.MediaType.Equals("application/octet-stream", StringComparison.OrdinalIgnoreCase))
            {
                size = await UploadSpool.ToFileAsync(request.Body, path, maxBytes, cancellationToken);
            }
            else if (contentType.MediaType.Equals("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                var boundary = HeaderUtilities.RemoveQuotes(contentType.Boundary).Value;
                if (string.IsNullOrEmpty(boundary))
                {
                    throw new BadRequestException("The multipart/form-data body has no boundary.");
                }

                var reader = new MultipartReader(boundary, request.Body);
                try
                {
                    while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
                    {
                        if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition) || !disposition.DispositionType.Equals("form-data"))
                        {
                            continue;
                        }

                        var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value;
                        if (string.Equals(name, "file", StringComparison.Ordinal))
                        {
                            if (size is not null)
                            {
                                throw new BadRequestException("Send one 'file' field.");
                            }

                            size = await UploadSpool.ToFileAsync(section.Body, path, maxBytes, cancellationToken);
                        }
                        else if (name is not null && FieldNames.Contains(name, StringComparer.OrdinalIgnoreCase))
                        {
                            fields[name] = await ReadFieldAsync(section.Body, name, cancellationToken);
                        }
                    }
                }
                catch (InvalidDataException ex)
                {
                    // MultipartReader's answer to a malformed body (bad boundary, headers too long).
                    throw new BadRequestException($"The multipart/form-data body is malformed: {ex.Message}");
                }

                if (size is null)
                {
                    throw new BadRequestException("The form has no 'file' field with the model.");
                }
            }
            else
            {
                throw new UnsupportedMediaTypeException($"'{contentType.MediaType}' is not accepted: send multipart/form-data (field 'file'), application/octet-stream, or application/json naming an 'artifact' in the store.");
            }

            if (size == 0)
            {
                throw new BadRequestException("The model file is empty.");
            }

            return new ModelUpload(path, size.Value, fields.GetValueOrDefault("description"), fields.GetValueOrDefault("metrics"), fields.GetValueOrDefault("params"), fields.GetValueOrDefault("lineage"));
        }
        catch
        {
            Delete(path);
            throw;
        }
    }

    /// <summary>
    /// <c>{"artifact": "object key", "description", "metrics": {}, "params": {}, "lineage": {}}</c>:
    /// a version from an object already in the artifact store, fetched by <see cref="FetchAsync"/>.
    /// </summary>
    private static async Task<ModelUpload> ReadJsonAsync(Stream body, string path, CancellationToken cancellationToken)
    {
        using var memory = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (memory.Length + read > MaxJsonBodyBytes)
            {
                throw new PayloadTooLargeException(MaxJsonBodyBytes);
            }

            memory.Write(buffer, 0, read);
        }

        JsonObject request;
        try
        {
            request = JsonNode.Parse(memory.ToArray()) as JsonObject ?? throw new BadRequestException("Send a JSON object with 'artifact', the object key of the model in the artifact store.");
        }
        catch (JsonException ex)
        {
            throw new BadRequestException($"The body is not valid JSON: {ex.Message}");
        }

        foreach (var (member, _) in request)
        {
            if (member is not ("artifact" or "description" or "metrics" or "params" or "lineage"))
            {
                throw new BadRequestException($"'{member}' is not known: use artifact, description, metrics, params, lineage.");
            }
        }

        if (request["artifact"] is not JsonValue artifact || artifact.GetValueKind() != JsonValueKind.String || artifact.GetValue<string>() is not { Length: > 0 } key)
        {
            throw new BadRequestException("'artifact' must be the object key of the model in the artifact store.");
        }

        string? description = null;
        if (request["description"] is { } text)
        {
            description = text is JsonValue v && v.GetValueKind() == JsonValueKind.String
                ? v.GetValue<string>()
                : throw new BadRequestException("'description' must be a string.");
        }

        return new ModelUpload(path, 0, description, request["metrics"]?.ToJsonString(), request["params"]?.ToJsonString(), request["lineage"]?.ToJsonString(), key);
    }

    /// <summary>A version from an object already in the store (the model.register step), fields already parsed by the caller.</summary>
    public static ModelUpload ForArtifact(string key, string? description)
    {
        var folder = Directory.CreateDirectory(System.IO.Path.Combine(System.IO.Path.GetTempPath(), "mlp-upload-" + Guid.NewGuid().ToString("N")));
        return new ModelUpload(System.IO.Path.Combine(folder.FullName, "model.onnx"), 0, description, null, null, null, key);
    }

    /// <summary>
    /// Copies the named object into this upload's private folder, so it is hashed and loaded by ONNX
    /// Runtime exactly as an upload is. Unknown object → 422; larger than the limit → 413.
    /// </summary>
    public async Task FetchAsync(IObjectStore store, long maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var key = ArtifactKey ?? throw new InvalidOperationException("Nothing to fetch: this version was uploaded.");
        ObjectInfo? info;
        try
        {
            info = await store.GetInfoAsync(key, cancellationToken);
        }
        catch (InvalidObjectKeyException ex)
        {
            throw new BadRequestException(ex.Message);
        }

        if (info is null)
        {
            throw new UnprocessableException($"The artifact store holds no object '{key}'.");
        }

        if (info.Size > maxBytes)
        {
            throw new PayloadTooLargeException(maxBytes);
        }

        try
        {
            await using var source = await store.OpenReadAsync(key, cancellationToken);
            Size = await UploadSpool.ToFileAsync(source, Path, maxBytes, cancellationToken);
        }
        catch (ObjectNotFoundException)
        {
            throw new UnprocessableException($"The artifact store holds no object '{key}'.");
        }

        if (Size == 0)
        {
            throw new UnprocessableException($"The object '{key}' is empty.");
        }
    }

    private static async Task<string> ReadFieldAsync(Stream body, string name, CancellationToken cancellationToken)
    {
        using var memory = new MemoryStream();
        var buffer = new byte[8192];
        int read;
        while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (memory.Length + read > MaxFieldBytes)
            {
                throw new BadRequestException($"The field '{name}' is longer than {MaxFieldBytes} bytes.");
            }

            memory.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(memory.GetBuffer(), 0, (int)memory.Length);
    }

    /// <summary>Metrics are a JSON object of finite numbers, e.g. <c>{"auc": 0.91}</c>; null gives an empty object.</summary>
    public static JsonObject ParseMetrics(string? json)
    {
        var metrics = ParseObject(json, "metrics");
        foreach (var (key, value) in metrics)
        {
            if (key.StartsWith('$'))
            {
                throw new BadRequestException($"The metric name '{key}' is reserved: metric names do not start with '$'.");
            }

            if (value is not JsonValue number || number.GetValueKind() != JsonValueKind.Number || key.Length is 0 or > 200)
            {
                throw new BadRequestException($"The metric '{key}' must have a number as value (metrics are a JSON object of numbers).");
            }
        }

        return metrics;
    }

    /// <summary>Parameters are a JSON object of strings, numbers or booleans.</summary>
    public static JsonObject ParseParams(string? json)
    {
        var parameters = ParseObject(json, "params");
        foreach (var (key, value) in parameters)
        {
            if (value is not JsonValue scalar || scalar.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False) || key.Length is 0 or > 200)
            {
                throw new BadRequestException($"The parameter '{key}' must be a string, number or boolean.");
            }
        }

        return parameters;
    }

    /// <summary>
    /// Lineage: <c>{"workflowRun", "step", "codeVersion"}</c> strings, <c>"datasets"</c> an array of
    /// strings (dataset versions such as <c>name@3</c>), <c>"parentVersion"</c> a version number.
    /// Unknown members are refused, so a misspelt key is not silently lost.
    /// </summary>
    public static VersionLineage ParseLineage(string? json)
    {
        var lineage = ParseObject(json, "lineage");
        string? Text(string key)
        {
            var node = lineage[key];
            if (node is null)
            {
                return null;
            }

            if (node is not JsonValue value || value.GetValueKind() != JsonValueKind.String || value.GetValue<string>() is not { Length: > 0 and <= 200 } text)
            {
                throw new BadRequestException($"lineage.{key} must be a string of 1 to 200 characters.");
            }

            return text;
        }

        foreach (var (key, _) in lineage)
        {
            if (key is not ("workflowRun" or "step" or "codeVersion" or "datasets" or "parentVersion"))
            {
                throw new BadRequestException($"lineage.{key} is not known: use workflowRun, step, codeVersion, datasets, parentVersion.");
            }
        }

        var datasets = new List<string>();
        if (lineage["datasets"] is { } list)
        {
            if (list is not JsonArray array || array.Count > 100)
            {
                throw new BadRequestException("lineage.datasets must be an array of at most 100 dataset versions.");
            }

            foreach (var item in array)
            {
                if (item is not JsonValue value || value.GetValueKind() != JsonValueKind.String || value.GetValue<string>() is not { Length: > 0 and <= 200 } text)
                {
                    throw new BadRequestException("lineage.datasets must hold strings of 1 to 200 characters.");
                }

                datasets.Add(text);
            }
        }

        int? parent = null;
        if (lineage["parentVersion"] is { } parentNode)
        {
            if (parentNode is not JsonValue value || !value.TryGetValue<int>(out var number) || number <= 0)
            {
                throw new BadRequestException("lineage.parentVersion must be a positive version number.");
            }

            parent = number;
        }

        return new VersionLineage(Text("workflowRun"), Text("step"), Text("codeVersion"), datasets, parent);
    }

    private static JsonObject ParseObject(string? json, string field)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }

        try
        {
            return JsonNode.Parse(json) as JsonObject ?? throw new BadRequestException($"'{field}' must be a JSON object.");
        }
        catch (JsonException ex)
        {
            throw new BadRequestException($"'{field}' is not valid JSON: {ex.Message}");
        }
    }

    public ValueTask DisposeAsync()
    {
        Delete(Path);
        return ValueTask.CompletedTask;
    }

    private static void Delete(string path)
    {
        try
        {
            Directory.Delete(System.IO.Path.GetDirectoryName(path)!, recursive: true);
        }
        catch (IOException)
        {
            // A temp file left behind is cleaned with the temp folder; the request must not fail for it.
        }
    }
}
