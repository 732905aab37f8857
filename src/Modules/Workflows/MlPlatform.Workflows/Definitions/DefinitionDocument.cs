using System.Text.Json;
using System.Text.Json.Nodes;

namespace MlPlatform.Workflows.Definitions;

public enum DefinitionFormat
{
    Json,
    Yaml,
}

/// <summary>
/// The text of a definition could not be parsed. Line and column are 1-based and point at the
/// problem in the submitted text.
/// </summary>
public sealed class DefinitionSyntaxException(string message, long? line, long? column) : Exception(message)
{
    public long? Line { get; } = line;

    public long? Column { get; } = column;
}

/// <summary>
/// Turns submitted JSON or YAML into one JSON tree, so both formats go through the same reader
/// and validator and equal content stores equally.
/// </summary>
public static class DefinitionDocument
{
    /// <summary>Deeper than any sensible definition; bounds recursion on hostile input.</summary>
    public const int MaxDepth = 64;

    /// <summary>Bounds the tree a YAML alias bomb ("billion laughs") could expand into.</summary>
    public const int MaxNodes = 1_000_000;

    public static JsonNode Parse(string text, DefinitionFormat format)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new DefinitionSyntaxException("The definition is empty.", null, null);
        }

        return format == DefinitionFormat.Yaml ? YamlToJson.Convert(text) : ParseJson(text);
    }

    private static JsonNode ParseJson(string text)
    {
        try
        {
            // JsonDocument reports line and position; the tree is built here to refuse duplicate keys.
            using var document = JsonDocument.Parse(text, new JsonDocumentOptions
            {
                MaxDepth = MaxDepth,
                AllowTrailingCommas = false,
                CommentHandling = JsonCommentHandling.Skip,
            });
            return ToNode(document.RootElement, "$") ?? throw new DefinitionSyntaxException("The definition is null.", 1, 1);
        }
        catch (JsonException ex)
        {
            // LineNumber and BytePositionInLine are 0-based.
            var line = ex.LineNumber + 1;
            var column = ex.BytePositionInLine + 1;
            throw new DefinitionSyntaxException($"Invalid JSON at line {line}, column {column}: {FirstSentence(ex.Message)}", line, column);
        }
    }

    private static JsonNode? ToNode(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var obj = new JsonObject();
                foreach (var property in element.EnumerateObject())
                {
                    if (obj.ContainsKey(property.Name))
                    {
                        throw new DefinitionSyntaxException($"Invalid JSON: the key '{property.Name}' appears twice in {path}.", null, null);
                    }

                    obj[property.Name] = ToNode(property.Value, DefinitionPaths.Member(path, property.Name));
                }

                return obj;
            case JsonValueKind.Array:
                var array = new JsonArray();
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    array.Add(ToNode(item, DefinitionPaths.Index(path, index++)));
                }

                return array;
            case JsonValueKind.Null:
                return null;
            case JsonValueKind.Number:
                // The same number types as the YAML reader (long, else double), so both formats store equally.
                if (element.TryGetInt64(out var integer))
                {
                    return JsonValue.Create(integer);
                }

                if (element.TryGetDouble(out var real) && double.IsFinite(real))
                {
                    return JsonValue.Create(real);
                }

                throw new DefinitionSyntaxException($"Invalid JSON: the number at {path} is out of range.", null, null);
            case JsonValueKind.True:
                return JsonValue.Create(true);
            case JsonValueKind.False:
                return JsonValue.Create(false);
            default:
                return JsonValue.Create(element.GetString());
        }
    }

    private static string FirstSentence(string message)
    {
        // System.Text.Json appends "[Path: $ |] LineNumber: 0 | BytePositionInLine: 3." (0-based); ours are above.
        foreach (var marker in new[] { " Path: ", " LineNumber: " })
        {
            var cut = message.IndexOf(marker, StringComparison.Ordinal);
            if (cut > 0)
            {
                message = message[..cut];
            }
        }

        return message;
    }
}

/// <summary>Paths in errors: <c>steps[2].dependsOn[0]</c>, <c>parameters.epochs.default</c>.</summary>
public static class DefinitionPaths
{
    public const string Root = "$";

    public static string Member(string parent, string name)
    {
        var simple = name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '-') && !char.IsAsciiDigit(name[0]);
        var member = simple ? name : "[" + JsonSerializer.Serialize(name) + "]";
        if (parent == Root)
        {
            return simple ? member : Root + member;
        }

        return simple ? parent + "." + member : parent + member;
    }

    public static string Index(string parent, int index) =>
        (parent == Root ? Root : parent) + "[" + index.ToString(System.Globalization.CultureInfo.InvariantCulture) + "]";

    /// <summary>Appends a step type's relative parameter path (<c>url</c>, <c>headers.Accept</c>, <c>items[0]</c>).</summary>
    public static string Append(string parent, string relative)
    {
        if (string.IsNullOrEmpty(relative))
        {
            return parent;
        }

        return relative[0] == '[' ? parent + relative : parent + "." + relative;
    }
}
