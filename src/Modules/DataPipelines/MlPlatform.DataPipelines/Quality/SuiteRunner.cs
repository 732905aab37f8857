using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DuckDB.NET.Data;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.DataPipelines.Quality;

public sealed record RuleResult(
    int Index,
    string Rule,
    string Type,
    string? Column,
    string Severity,
    bool Passed,
    JsonNode? Observed,
    long FailingRows,
    double FailingFraction,
    double Mostly,
    IReadOnlyList<JsonObject> Sample);

public sealed record SuiteOutcome(long Rows, bool Passed, int FailedRules, int Warnings, IReadOnlyList<RuleResult> Results);

/// <summary>
/// Runs rules on a loaded table: every rule's failing-row count comes from one aggregate scan
/// (<c>count(*) FILTER (WHERE …)</c> per rule); only failing rules pay for a second, limited query
/// that fetches a sample of their rows.
/// </summary>
internal static class SuiteRunner
{
    public const int SampleSize = 5;

    /// <param name="firstLine">The file line of data row 0 (2 for CSV, 1 for JSON lines), or null for Parquet.</param>
    public static SuiteOutcome Run(DataSession session, string table, IReadOnlyList<ColumnSchema> columns, IReadOnlyList<QualityRule> rules, int? firstLine)
    {
        CheckColumns(columns, rules);
        var t = DataSession.Identifier(table);
        var select = new List<string> { "count(*)" };
        var conditions = new string?[rules.Count];
        var slots = new int[rules.Count];
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            var column = rule.Column is null ? null : columns.First(c => c.Name == rule.Column);
            slots[i] = select.Count;
            switch (rule.Type)
            {
                case RuleTypes.RowCountBetween:
                    select.Add("0");
                    break;
                case RuleTypes.Unique:
                    var c = DataSession.Identifier(column!.Name);
                    select.Add($"count({c}) - count(DISTINCT {c})");
                    conditions[i] = $"{c} IN (SELECT {c} FROM {t} GROUP BY {c} HAVING count(*) > 1)";
                    break;
                case RuleTypes.Between:
                    conditions[i] = FailCondition(rule, column, i);
                    select.Add($"count(*) FILTER (WHERE {conditions[i]})");
                    select.Add($"min({DataSession.Identifier(column!.Name)})::DOUBLE");
                    select.Add($"max({DataSession.Identifier(column.Name)})::DOUBLE");
                    break;
                default:
                    conditions[i] = FailCondition(rule, column, i);
                    select.Add($"count(*) FILTER (WHERE {conditions[i]})");
                    break;
            }
        }

        object?[] row;
        try
        {
            row = session.Query($"SELECT {string.Join(", ", select)} FROM {t}")[0];
        }
        catch (DuckDBException ex)
        {
            throw Culprit(session, t, rules, conditions, ex);
        }

        var rows = Convert.ToInt64(row[0], CultureInfo.InvariantCulture);
        var results = new List<RuleResult>(rules.Count);
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (rule.Type == RuleTypes.RowCountBetween)
            {
                var ok = (rule.Min is null || rows >= rule.Min) && (rule.Max is null || rows <= rule.Max);
                results.Add(new RuleResult(i, rule.Label, rule.Type, null, rule.Severity, ok, rows, 0, 0, rule.Mostly, []));
                continue;
            }

            var failing = Convert.ToInt64(row[slots[i]], CultureInfo.InvariantCulture);
            var fraction = rows == 0 ? 0 : (double)failing / rows;
            JsonNode observed = rule.Type switch
            {
                RuleTypes.NotNull => new JsonObject { ["nulls"] = failing },
                RuleTypes.Unique => new JsonObject { ["duplicates"] = failing },
                RuleTypes.Between => new JsonObject { ["min"] = Profiler.Number(row[slots[i] + 1]), ["max"] = Profiler.Number(row[slots[i] + 2]) },
                RuleTypes.Type => new JsonObject { ["columnType"] = columns.First(c => c.Name == rule.Column).Type, ["nonConforming"] = failing },
                _ => new JsonObject { ["failing"] = failing, ["fraction"] = fraction },
            };
            // "mostly": the rule holds when at least that fraction of rows passes.
            var passed = failing == 0 || (rule.Mostly < 1 && 1 - fraction >= rule.Mostly - 1e-12);
            var sample = failing > 0 && conditions[i] is { } condition ? Sample(session, t, condition, firstLine) : [];
            results.Add(new RuleResult(i, rule.Label, rule.Type, rule.Column, rule.Severity, passed, observed, failing, fraction, rule.Mostly, sample));
        }

        var failedRules = results.Count(r => !r.Passed && r.Severity == Severities.Blocking);
        var warnings = results.Count(r => !r.Passed && r.Severity == Severities.Warning);
        return new SuiteOutcome(rows, failedRules == 0, failedRules, warnings, results);
    }

    /// <summary>Rules naming columns the dataset does not have: 422 naming each.</summary>
    public static void CheckColumns(IReadOnlyList<ColumnSchema> columns, IReadOnlyList<QualityRule> rules)
    {
        var problems = new List<string>();
        for (var i = 0; i < rules.Count; i++)
        {
            var rule = rules[i];
            if (rule.Column is null)
            {
                continue;
            }

            var column = columns.FirstOrDefault(c => c.Name == rule.Column);
            if (column is null)
            {
                problems.Add($"rules[{i}] ({rule.Type}) names the column '{rule.Column}', which the dataset does not have");
            }
            else if (rule.Type == RuleTypes.Between && !TypeNames.IsNumeric(column.Type))
            {
                problems.Add($"rules[{i}] (between) needs a numeric column; '{rule.Column}' is {column.Type}");
            }
            else if (rule.Type == RuleTypes.InSet && TypeNames.IsNumeric(column.Type) && rule.Values!.Any(v => v!.GetValueKind() != JsonValueKind.Number))
            {
                problems.Add($"rules[{i}] (in_set) lists non-numbers for the numeric column '{rule.Column}'");
            }
        }

        if (problems.Count > 0)
        {
            throw new UnprocessableException(string.Join("; ", problems) + $". Columns: {string.Join(", ", columns.Select(c => c.Name))}.");
        }
    }

    private static string FailCondition(QualityRule rule, ColumnSchema? column, int index)
    {
        var c = column is null ? null : DataSession.Identifier(column.Name);
        return rule.Type switch
        {
            RuleTypes.NotNull => $"{c} IS NULL",
            RuleTypes.InSet => $"{c} IS NOT NULL AND {(TypeNames.IsNumeric(column!.Type) ? c : c + "::VARCHAR")} NOT IN ({string.Join(", ", rule.Values!.Select(v => SetLiteral(v, TypeNames.IsNumeric(column.Type))))})",
            RuleTypes.Between => string.Join(" OR ", new[]
            {
                rule.Min is { } min ? $"{c} < {min.ToString("R", CultureInfo.InvariantCulture)}" : null,
                rule.Max is { } max ? $"{c} > {max.ToString("R", CultureInfo.InvariantCulture)}" : null,
            }.Where(p => p is not null)),
            RuleTypes.Regex => $"{c} IS NOT NULL AND NOT regexp_full_match({c}::VARCHAR, {DataSession.Literal(rule.Pattern!)})",
            RuleTypes.Type => $"{c} IS NOT NULL AND TRY_CAST({c}::VARCHAR AS {TypeNames.ToEngine(rule.DataType!)}) IS NULL",
            RuleTypes.Expression => $"NOT coalesce(({rule.Expression}), false)",
            _ => throw new InvalidOperationException($"No condition for rule {index} ({rule.Type})."),
        };
    }

    private static string SetLiteral(JsonNode? value, bool numeric)
    {
        var v = (JsonValue)value!;
        return v.GetValueKind() switch
        {
            JsonValueKind.Number when numeric => v.ToJsonString(),
            JsonValueKind.String => DataSession.Literal(v.GetValue<string>()),
            JsonValueKind.True => "'true'",
            JsonValueKind.False => "'false'",
            _ => DataSession.Literal(v.ToJsonString()),
        };
    }

    /// <summary>A broken rule (bad expression, bad regex) found by running each alone, so the answer names it.</summary>
    private static UnprocessableException Culprit(DataSession session, string table, IReadOnlyList<QualityRule> rules, string?[] conditions, DuckDBException original)
    {
        for (var i = 0; i < rules.Count; i++)
        {
            if (conditions[i] is not { } condition)
            {
                continue;
            }

            try
            {
                session.Scalar($"SELECT count(*) FILTER (WHERE {condition}) FROM {table}");
            }
            catch (DuckDBException ex)
            {
                return new UnprocessableException($"rules[{i}] ({rules[i].Type}) cannot be evaluated: {DataSession.Message(ex)}");
            }
        }

        return new UnprocessableException("The suite cannot be evaluated: " + DataSession.Message(original));
    }

    private static List<JsonObject> Sample(DataSession session, string table, string condition, int? firstLine)
    {
        var rows = session.Query($"SELECT rowid, * FROM {table} WHERE {condition} ORDER BY rowid LIMIT {SampleSize}");
        var names = session.Describe($"SELECT * FROM {table}").Select(c => c.Name).ToList();
        var sample = new List<JsonObject>(rows.Count);
        foreach (var r in rows)
        {
            var index = Convert.ToInt64(r[0], CultureInfo.InvariantCulture);
            var item = new JsonObject { ["row"] = index + 1 };
            if (firstLine is { } first)
            {
                item["line"] = index + first;
            }

            var values = new JsonObject();
            for (var k = 0; k < names.Count; k++)
            {
                values[names[k]] = JsonValues.From(r[k + 1]);
            }

            item["values"] = values;
            sample.Add(item);
        }

        return sample;
    }
}

internal static class JsonValues
{
    /// <summary>A value read from the engine as JSON: numbers and booleans as such, anything else as text.</summary>
    public static JsonNode? From(object? value) => value switch
    {
        null => null,
        bool b => b,
        long l => l,
        int i => i,
        short s => s,
        byte b8 => b8,
        double d => double.IsFinite(d) ? d : d.ToString(CultureInfo.InvariantCulture),
        float f => double.IsFinite(f) ? f : f.ToString(CultureInfo.InvariantCulture),
        decimal m => m,
        System.Numerics.BigInteger big => big.ToString(CultureInfo.InvariantCulture),
        DateTime dt => dt.ToString("O", CultureInfo.InvariantCulture),
        DateOnly date => date.ToString("O", CultureInfo.InvariantCulture),
        string text => text,
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };
}
