using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.DataPipelines.Quality;

public static class RuleTypes
{
    public const string NotNull = "not_null";
    public const string Unique = "unique";
    public const string InSet = "in_set";
    public const string Between = "between";
    public const string Regex = "regex";
    public const string Type = "type";
    public const string RowCountBetween = "row_count_between";
    public const string Expression = "expression";

    public static readonly IReadOnlyList<string> All = [NotNull, Unique, InSet, Between, Regex, Type, RowCountBetween, Expression];

    public static bool NeedsColumn(string type) => type is not (RowCountBetween or Expression);
}

public static class Severities
{
    public const string Blocking = "blocking";
    public const string Warning = "warning";
}

/// <summary>
/// One declarative rule. <see cref="Mostly"/> is the fraction of rows that must pass (1 = all);
/// a <see cref="Severities.Warning"/> rule is reported but never fails the suite.
/// </summary>
public sealed record QualityRule(
    string Type,
    string? Column,
    IReadOnlyList<JsonNode?>? Values,
    double? Min,
    double? Max,
    string? Pattern,
    string? DataType,
    string? Expression,
    double Mostly,
    string Severity,
    string? Name)
{
    public string Label => Name ?? (Column is null ? Type : $"{Type}({Column})");

    public JsonObject ToJson()
    {
        var json = new JsonObject { ["type"] = Type };
        if (Name is not null) json["name"] = Name;
        if (Column is not null) json["column"] = Column;
        if (Values is not null) json["values"] = new JsonArray(Values.Select(v => v?.DeepClone()).ToArray());
        if (Min is not null) json["min"] = Min;
        if (Max is not null) json["max"] = Max;
        if (Pattern is not null) json["pattern"] = Pattern;
        if (DataType is not null) json["dataType"] = DataType;
        if (Expression is not null) json["expression"] = Expression;
        json["mostly"] = Mostly;
        json["severity"] = Severity;
        return json;
    }

    /// <summary>Parses and checks rules; every problem is reported with its path (<c>rules[2].column</c>).</summary>
    public static List<QualityRule> ParseAll(JsonArray? rules)
    {
        var errors = new Dictionary<string, string[]>();
        var parsed = new List<QualityRule>();
        if (rules is null || rules.Count == 0)
        {
            throw Invalid.Fields(new Dictionary<string, string[]> { ["rules"] = ["A suite needs at least one rule."] });
        }

        if (rules.Count > 200)
        {
            throw Invalid.Fields(new Dictionary<string, string[]> { ["rules"] = ["A suite holds at most 200 rules."] });
        }

        for (var i = 0; i < rules.Count; i++)
        {
            var path = $"rules[{i}]";
            if (rules[i] is not JsonObject rule)
            {
                errors[path] = ["A rule is a JSON object."];
                continue;
            }

            var problems = new List<(string Field, string Message)>();
            var rule1 = Parse(rule, problems);
            foreach (var (field, message) in problems)
            {
                var key = field.Length == 0 ? path : $"{path}.{field}";
                errors[key] = errors.TryGetValue(key, out var existing) ? [.. existing, message] : [message];
            }

            if (rule1 is not null)
            {
                parsed.Add(rule1);
            }
        }

        if (errors.Count > 0)
        {
            throw Invalid.Fields(errors);
        }

        return parsed;
    }

    private static readonly HashSet<string> Known = ["type", "name", "column", "values", "min", "max", "pattern", "dataType", "expression", "mostly", "severity"];

    private static QualityRule? Parse(JsonObject rule, List<(string, string)> problems)
    {
        foreach (var (key, _) in rule)
        {
            if (!Known.Contains(key))
            {
                problems.Add((key, $"Unknown field '{key}'."));
            }
        }

        var type = Text(rule, "type", problems);
        if (type is null || !RuleTypes.All.Contains(type))
        {
            problems.Add(("type", $"The rule type must be one of: {string.Join(", ", RuleTypes.All)}."));
            return null;
        }

        var column = Text(rule, "column", problems);
        if (RuleTypes.NeedsColumn(type) && string.IsNullOrEmpty(column))
        {
            problems.Add(("column", $"A {type} rule names a column."));
        }

        var min = Number(rule, "min", problems);
        var max = Number(rule, "max", problems);
        var mostly = Number(rule, "mostly", problems) ?? 1.0;
        if (mostly is < 0 or > 1)
        {
            problems.Add(("mostly", "'mostly' is the fraction of rows that must pass, between 0 and 1."));
        }

        var severity = Text(rule, "severity", problems) ?? Severities.Blocking;
        if (severity is not (Severities.Blocking or Severities.Warning))
        {
            problems.Add(("severity", "The severity is 'blocking' or 'warning'."));
        }

        IReadOnlyList<JsonNode?>? values = null;
        string? pattern = null, dataType = null, expression = null;
        switch (type)
        {
            case RuleTypes.InSet:
                if (rule["values"] is not JsonArray array || array.Count == 0 || array.Count > 1000
                    || array.Any(v => v is not JsonValue jv || jv.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False)))
                {
                    problems.Add(("values", "An in_set rule has 'values': 1 to 1000 strings, numbers or booleans."));
                }
                else
                {
                    values = array.Select(v => v?.DeepClone()).ToList();
                }

                break;
            case RuleTypes.Between:
            case RuleTypes.RowCountBetween:
                if (min is null && max is null)
                {
                    problems.Add(("", $"A {type} rule has 'min', 'max' or both."));
                }
                else if (min > max)
                {
                    problems.Add(("min", "'min' is greater than 'max'."));
                }

                break;
            case RuleTypes.Regex:
                pattern = Text(rule, "pattern", problems);
                if (string.IsNullOrEmpty(pattern) || pattern.Length > 1000)
                {
                    problems.Add(("pattern", "A regex rule has a 'pattern' of 1 to 1000 characters (RE2 syntax, matched against the whole value)."));
                }

                break;
            case RuleTypes.Type:
                dataType = Text(rule, "dataType", problems);
                if (dataType is null || !TypeNames.All.Contains(dataType))
                {
                    problems.Add(("dataType", $"A type rule has a 'dataType': {string.Join(", ", TypeNames.All)}."));
                }

                break;
            case RuleTypes.Expression:
                expression = Text(rule, "expression", problems);
                if (ExpressionCheck.Problem(expression) is { } problem)
                {
                    problems.Add(("expression", problem));
                }

                break;
        }

        var name = Text(rule, "name", problems);
        if (name is { Length: > 200 })
        {
            problems.Add(("name", "A rule name is at most 200 characters."));
        }

        return problems.Count > 0
            ? null
            : new QualityRule(type, column, values, min, max, pattern, dataType, expression, mostly, severity, name);
    }

    private static string? Text(JsonObject rule, string field, List<(string, string)> problems)
    {
        var node = rule[field];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.String)
        {
            return value.GetValue<string>();
        }

        problems.Add((field, $"'{field}' must be a string."));
        return null;
    }

    private static double? Number(JsonObject rule, string field, List<(string, string)> problems)
    {
        var node = rule[field];
        if (node is null)
        {
            return null;
        }

        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number)
        {
            return double.Parse(value.ToJsonString(), CultureInfo.InvariantCulture);
        }

        problems.Add((field, $"'{field}' must be a number."));
        return null;
    }
}

/// <summary>Checks a user-written SQL expression before it reaches the engine.</summary>
public static class ExpressionCheck
{
    public static string? Problem(string? expression)
    {
        if (string.IsNullOrWhiteSpace(expression) || expression.Length > 2000)
        {
            return "An expression is 1 to 2000 characters of SQL, e.g. \"price >= 0 AND qty > 0\".";
        }

        // One expression, never a statement: the engine also runs it with file access locked down.
        if (expression.Contains(';', StringComparison.Ordinal) || expression.Contains("--", StringComparison.Ordinal) || expression.Contains("/*", StringComparison.Ordinal))
        {
            return "An expression may not hold ';' or comments.";
        }

        return null;
    }
}

/// <summary>400 with per-field errors, the shape the validation behavior produces.</summary>
public static class Invalid
{
    public static FluentValidation.ValidationException Fields(IReadOnlyDictionary<string, string[]> errors) =>
        new(errors.SelectMany(e => e.Value.Select(m => new FluentValidation.Results.ValidationFailure(e.Key, m))));

    public static FluentValidation.ValidationException Field(string path, string message) =>
        Fields(new Dictionary<string, string[]> { [path] = [message] });
}
