using System.Text.Json.Nodes;

namespace MlPlatform.Workflows.Contracts.StepTypes;

/// <summary>The value types of step parameters and of workflow parameters.</summary>
public enum ParameterType
{
    String,
    Int,
    Number,
    Bool,

    /// <summary>A string such as <c>90s</c>, <c>1h30m</c> or <c>250ms</c> (see <see cref="Durations"/>).</summary>
    Duration,
    Object,
    Array,

    /// <summary>Any JSON value (an HTTP body, say).</summary>
    Any,
}

/// <summary>
/// One parameter a step type accepts. <see cref="Default"/> is used when the step leaves the
/// parameter out; a required parameter has none.
/// </summary>
public sealed record StepParameterSpec(
    string Name,
    ParameterType Type,
    bool Required = false,
    JsonNode? Default = null,
    string? Description = null);

public static class ParameterTypes
{
    /// <summary>The names used in definitions (<c>"type": "int"</c>).</summary>
    public static string NameOf(ParameterType type) => type switch
    {
        ParameterType.String => "string",
        ParameterType.Int => "int",
        ParameterType.Number => "number",
        ParameterType.Bool => "bool",
        ParameterType.Duration => "duration",
        ParameterType.Object => "object",
        ParameterType.Array => "array",
        ParameterType.Any => "any",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static IReadOnlyList<string> Names { get; } = Enum.GetValues<ParameterType>().Select(NameOf).ToArray();

    public static bool TryParse(string? name, out ParameterType type)
    {
        foreach (var candidate in Enum.GetValues<ParameterType>())
        {
            if (NameOf(candidate) == name)
            {
                type = candidate;
                return true;
            }
        }

        type = default;
        return false;
    }

    /// <summary>Null when <paramref name="value"/> is of <paramref name="type"/>; otherwise why not.</summary>
    public static string? Check(ParameterType type, JsonNode? value)
    {
        var kind = value?.GetValueKind() ?? System.Text.Json.JsonValueKind.Null;
        return type switch
        {
            ParameterType.String when kind == System.Text.Json.JsonValueKind.String => null,
            ParameterType.Int when kind == System.Text.Json.JsonValueKind.Number && IsInteger(value!) => null,
            ParameterType.Number when kind == System.Text.Json.JsonValueKind.Number => null,
            ParameterType.Bool when kind is System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => null,
            ParameterType.Duration when kind == System.Text.Json.JsonValueKind.String =>
                Durations.TryParse(value!.GetValue<string>(), out _, out var error) ? null : error,
            ParameterType.Object when kind == System.Text.Json.JsonValueKind.Object => null,
            ParameterType.Array when kind == System.Text.Json.JsonValueKind.Array => null,
            ParameterType.Any => null,
            _ => $"Expected {Article(type)} {NameOf(type)}, got {Describe(kind)}.",
        };
    }

    private static bool IsInteger(JsonNode value) =>
        value.AsValue().TryGetValue<long>(out _)
        || (TryGetNumber(value, out var d) && Math.Abs(d) < 9.2e18 && Math.Floor(d) == d);

    /// <summary>The value of a JSON number however the node holds it (long, double, int, decimal or a parsed element).</summary>
    public static bool TryGetNumber(JsonNode? value, out double number)
    {
        number = 0;
        if (value is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.Number)
        {
            return false;
        }

        if (v.TryGetValue<double>(out number))
        {
            return true;
        }

        if (v.TryGetValue<long>(out var l))
        {
            number = l;
            return true;
        }

        if (v.TryGetValue<int>(out var i))
        {
            number = i;
            return true;
        }

        if (v.TryGetValue<decimal>(out var m))
        {
            number = (double)m;
            return true;
        }

        return double.TryParse(v.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out number);
    }

    private static string Article(ParameterType type) => type is ParameterType.Int or ParameterType.Object or ParameterType.Array ? "an" : "a";

    private static string Describe(System.Text.Json.JsonValueKind kind) => kind switch
    {
        System.Text.Json.JsonValueKind.String => "a string",
        System.Text.Json.JsonValueKind.Number => "a number",
        System.Text.Json.JsonValueKind.True or System.Text.Json.JsonValueKind.False => "a boolean",
        System.Text.Json.JsonValueKind.Object => "an object",
        System.Text.Json.JsonValueKind.Array => "an array",
        _ => "null",
    };
}
