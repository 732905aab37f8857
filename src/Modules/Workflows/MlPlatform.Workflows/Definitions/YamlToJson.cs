using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace MlPlatform.Workflows.Definitions;

/// <summary>
/// Reads one YAML document into a JSON tree with the YAML 1.2 core schema: plain <c>true</c>,
/// <c>42</c>, <c>1.5</c>, <c>null</c> are typed; quoted scalars are strings; no YAML 1.1 surprises
/// (<c>on</c>/<c>yes</c> stay strings). Aliases are expanded within <see cref="DefinitionDocument.MaxNodes"/>;
/// duplicate keys, complex keys and unknown tags are refused with their line and column.
/// </summary>
internal static partial class YamlToJson
{
    private const string StrTag = "tag:yaml.org,2002:str";
    private const string IntTag = "tag:yaml.org,2002:int";
    private const string FloatTag = "tag:yaml.org,2002:float";
    private const string BoolTag = "tag:yaml.org,2002:bool";
    private const string NullTag = "tag:yaml.org,2002:null";
    private const string MapTag = "tag:yaml.org,2002:map";
    private const string SeqTag = "tag:yaml.org,2002:seq";

    [GeneratedRegex(@"^[-+]?[0-9]+$", RegexOptions.CultureInvariant)]
    private static partial Regex DecimalInt();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$", RegexOptions.CultureInvariant)]
    private static partial Regex Float();

    [GeneratedRegex(@"^\(Line: \d+, Col: \d+, Idx: \d+\) - \(Line: \d+, Col: \d+, Idx: \d+\): ", RegexOptions.CultureInvariant)]
    private static partial Regex PositionPrefix();

    public static JsonNode Convert(string text)
    {
        var reader = new Reader(new Parser(new StringReader(text)));
        try
        {
            return reader.ReadStream();
        }
        catch (YamlException ex)
        {
            var message = PositionPrefix().Replace(ex.Message, string.Empty);
            throw new DefinitionSyntaxException(
                $"Invalid YAML at line {ex.Start.Line}, column {ex.Start.Column}: {message}", ex.Start.Line, ex.Start.Column);
        }
    }

    private sealed class Reader(IParser parser)
    {
        private readonly Dictionary<string, JsonNode?> _anchors = new(StringComparer.Ordinal);
        private int _nodes;

        public JsonNode ReadStream()
        {
            parser.Consume<StreamStart>();
            if (parser.Accept<StreamEnd>(out _))
            {
                throw new DefinitionSyntaxException("The definition is empty.", null, null);
            }

            parser.Consume<DocumentStart>();
            var root = Read(depth: 0);
            parser.Consume<DocumentEnd>();
            if (parser.Accept<DocumentStart>(out var next))
            {
                throw Error(next.Start, "The text holds more than one YAML document; submit one definition at a time.");
            }

            parser.Consume<StreamEnd>();
            return root ?? throw new DefinitionSyntaxException("The definition is empty (null).", 1, 1);
        }

        private JsonNode? Read(int depth)
        {
            var current = parser.Current ?? throw new DefinitionSyntaxException("Unexpected end of YAML.", null, null);
            if (depth > DefinitionDocument.MaxDepth)
            {
                throw Error(current.Start, $"The document is nested deeper than {DefinitionDocument.MaxDepth} levels.");
            }

            if (++_nodes > DefinitionDocument.MaxNodes)
            {
                throw Error(current.Start, $"The document expands to more than {DefinitionDocument.MaxNodes} values (aliases included).");
            }

            switch (current)
            {
                case AnchorAlias alias:
                    parser.MoveNext();
                    if (!_anchors.TryGetValue(alias.Value.Value, out var anchored))
                    {
                        throw Error(alias.Start, $"Unknown alias '*{alias.Value.Value}'.");
                    }

                    // A copy per use: the tree is a tree, and the node count above bounds the expansion.
                    _nodes += Count(anchored);
                    if (_nodes > DefinitionDocument.MaxNodes)
                    {
                        throw Error(alias.Start, $"The document expands to more than {DefinitionDocument.MaxNodes} values (aliases included).");
                    }

                    return anchored?.DeepClone();
                case Scalar scalar:
                    parser.MoveNext();
                    return Remember(scalar, ScalarValue(scalar));
                case SequenceStart sequence:
                    {
                        CheckCollectionTag(sequence, SeqTag);
                        parser.MoveNext();
                        var array = new JsonArray();
                        while (!parser.TryConsume<SequenceEnd>(out _))
                        {
                            array.Add(Read(depth + 1));
                        }

                        return Remember(sequence, array);
                    }

                case MappingStart mapping:
                    {
                        CheckCollectionTag(mapping, MapTag);
                        parser.MoveNext();
                        var obj = new JsonObject();
                        while (!parser.TryConsume<MappingEnd>(out _))
                        {
                            if (parser.Current is not Scalar key)
                            {
                                throw Error(parser.Current!.Start, "Mapping keys must be plain strings.");
                            }

                            parser.MoveNext();
                            if (obj.ContainsKey(key.Value))
                            {
                                throw Error(key.Start, $"The key '{key.Value}' appears twice in this mapping.");
                            }

                            // Read the value before adding: an anchor on the value must be complete when referenced.
                            var value = Read(depth + 1);
                            obj[key.Value] = value;
                        }

                        return Remember(mapping, obj);
                    }

                default:
                    throw Error(current.Start, $"Unexpected YAML {current.GetType().Name}.");
            }
        }

        private JsonNode? Remember(NodeEvent node, JsonNode? value)
        {
            if (!node.Anchor.IsEmpty)
            {
                _anchors[node.Anchor.Value] = value?.DeepClone();
            }

            return value;
        }

        private static void CheckCollectionTag(NodeEvent node, string expected)
        {
            if (!node.Tag.IsEmpty && !node.Tag.IsNonSpecific && node.Tag.Value != expected)
            {
                throw Error(node.Start, $"Unsupported tag '{node.Tag.Value}'.");
            }
        }

        private static JsonNode? ScalarValue(Scalar scalar)
        {
            var text = scalar.Value;
            string? tag = scalar.Tag.IsEmpty || scalar.Tag.IsNonSpecific ? null : scalar.Tag.Value;
            if (tag is null)
            {
                // Quoted and block scalars, and the non-specific '!' tag, are strings; only plain ones are resolved.
                if (scalar.Style != ScalarStyle.Plain || !scalar.Tag.IsEmpty)
                {
                    return JsonValue.Create(text);
                }

                return Resolve(text) ?? (IsNull(text) ? null : JsonValue.Create(text));
            }

            return tag switch
            {
                StrTag => JsonValue.Create(text),
                NullTag when IsNull(text) => null,
                IntTag when TryInt(text, out var i) => i,
                FloatTag when TryFloat(text, out var f) => f,
                BoolTag when TryBool(text, out var b) => JsonValue.Create(b),
                StrTag or NullTag or IntTag or FloatTag or BoolTag => throw Error(scalar.Start, $"'{text}' is not a valid {tag[(tag.LastIndexOf(':') + 1)..]}."),
                _ => throw Error(scalar.Start, $"Unsupported tag '{tag}'."),
            };
        }

        /// <summary>A typed value for a plain scalar, or null when it is a string (or YAML null).</summary>
        private static JsonNode? Resolve(string text)
        {
            if (TryBool(text, out var b))
            {
                return JsonValue.Create(b);
            }

            if (TryInt(text, out var i))
            {
                return i;
            }

            return TryFloat(text, out var f) ? f : null;
        }

        private static bool IsNull(string text) => text is "" or "~" or "null" or "Null" or "NULL";

        private static bool TryBool(string text, out bool value)
        {
            switch (text)
            {
                case "true" or "True" or "TRUE":
                    value = true;
                    return true;
                case "false" or "False" or "FALSE":
                    value = false;
                    return true;
                default:
                    value = false;
                    return false;
            }
        }

        private static bool TryInt(string text, out JsonNode? value)
        {
            value = null;
            if (DecimalInt().IsMatch(text))
            {
                if (long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var l))
                {
                    value = JsonValue.Create(l);
                    return true;
                }

                // Beyond 64 bits: a double, as the JSON reader does.
                value = JsonValue.Create(double.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture));
                return true;
            }

            if (text.Length > 2 && text[0] == '0' && text[1] == 'x'
                && long.TryParse(text.AsSpan(2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hex))
            {
                value = JsonValue.Create(hex);
                return true;
            }

            if (text.Length > 2 && text[0] == '0' && text[1] == 'o' && TryOctal(text[2..], out var octal))
            {
                value = JsonValue.Create(octal);
                return true;
            }

            return false;
        }

        private static bool TryOctal(string digits, out long value)
        {
            value = 0;
            if (digits.Length > 21)
            {
                return false;
            }

            foreach (var c in digits)
            {
                if (c is < '0' or > '7')
                {
                    return false;
                }

                value = (value * 8) + (c - '0');
            }

            return true;
        }

        private static bool TryFloat(string text, out JsonNode? value)
        {
            value = null;
            // JSON has no infinities or NaN, so .inf/.nan cannot be carried; they stay strings.
            if (!Float().IsMatch(text) || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) || double.IsInfinity(d))
            {
                return false;
            }

            value = JsonValue.Create(d);
            return true;
        }

        private static int Count(JsonNode? node) => node switch
        {
            JsonObject obj => 1 + obj.Sum(p => Count(p.Value)),
            JsonArray array => 1 + array.Sum(Count),
            _ => 1,
        };

        private static DefinitionSyntaxException Error(Mark at, string message) =>
            new($"Invalid YAML at line {at.Line}, column {at.Column}: {message}", at.Line, at.Column);
    }
}
