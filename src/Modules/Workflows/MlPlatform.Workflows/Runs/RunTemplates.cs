using System.Text.Json;
using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Definitions;

namespace MlPlatform.Workflows.Runs;

/// <summary>What templates of one attempt can see: the run's fields, parameters and the outputs of steps that succeeded.</summary>
public sealed record TemplateScope(Guid RunId, string Workflow, int Version, JsonObject Parameters, IReadOnlyDictionary<string, JsonObject> Outputs)
{
    /// <summary>The run's logical time: its fire time for a scheduled or backfilled run, else when it was created.</summary>
    public DateTimeOffset? ScheduledAt { get; init; }

    /// <summary>The value of one reference; null when it names nothing (a skipped step's output, say).</summary>
    public JsonNode? Lookup(TemplateReference reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        JsonNode? value = reference.Kind switch
        {
            TemplateKind.Parameter => Parameters[reference.Name],
            TemplateKind.StepOutput => Outputs.TryGetValue(reference.Name, out var outputs) ? outputs[reference.Output!] : null,
            _ => reference.Name switch
            {
                "id" => JsonValue.Create(RunId.ToString()),
                "workflow" => JsonValue.Create(Workflow),
                "version" => JsonValue.Create(Version),
                "scheduledAt" => ScheduledAt is { } at ? JsonValue.Create(at.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)) : null,
                _ => null,
            },
        };
        foreach (var segment in reference.Path)
        {
            value = value is JsonObject o ? o[segment] : null;
        }

        return value?.DeepClone();
    }
}

/// <summary>
/// Resolves templates in step params when an attempt starts, with the parsing the validator uses
/// (<see cref="Templates"/>): a string that is exactly one template takes the value with its JSON
/// type; otherwise the values are written into the string.
/// </summary>
public static class RunTemplates
{
    public static JsonObject Resolve(JsonObject parameters, TemplateScope scope)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        return (JsonObject)ResolveNode(parameters, scope, "")!;
    }

    private static JsonNode? ResolveNode(JsonNode? node, TemplateScope scope, string path)
    {
        switch (node)
        {
            case JsonObject obj:
                var copy = new JsonObject();
                foreach (var (key, value) in obj)
                {
                    copy[key] = ResolveNode(value, scope, path.Length == 0 ? key : $"{path}.{key}");
                }

                return copy;
            case JsonArray array:
                var list = new JsonArray();
                for (var i = 0; i < array.Count; i++)
                {
                    list.Add(ResolveNode(array[i], scope, $"{path}[{i}]"));
                }

                return list;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                return ResolveString(value.GetValue<string>(), scope, path);
            default:
                return node?.DeepClone();
        }
    }

    private static JsonNode? ResolveString(string text, TemplateScope scope, string path)
    {
        if (!text.Contains("${", StringComparison.Ordinal))
        {
            return JsonValue.Create(text);
        }

        if (!Templates.TryParse(text, out var parts, out var error))
        {
            // The validator accepted it at submit, so this only happens if the syntax changed since.
            throw new StepFailedException($"params.{path}: {error}", retryable: false);
        }

        if (parts is [{ Reference: { } only }])
        {
            return scope.Lookup(only);
        }

        var builder = new System.Text.StringBuilder();
        foreach (var part in parts)
        {
            if (part.Literal is not null)
            {
                builder.Append(part.Literal);
                continue;
            }

            var value = scope.Lookup(part.Reference!);
            builder.Append(value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString() ?? "");
        }

        return JsonValue.Create(builder.ToString());
    }
}
