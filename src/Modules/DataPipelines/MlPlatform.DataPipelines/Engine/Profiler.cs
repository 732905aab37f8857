using System.Collections;
using System.Globalization;
using System.Text.Json.Nodes;

namespace MlPlatform.DataPipelines.Engine;

/// <summary>
/// The profile of a loaded table: row count and, per column, nulls, a distinct estimate
/// (HyperLogLog), min, max, and for numbers mean, standard deviation, quantiles and a 10-bin
/// histogram; the 5 most frequent values for every column. One scan for the aggregates, one
/// grouped query per column for top values and histogram.
/// </summary>
internal static class Profiler
{
    public static readonly double[] Quantiles = [0.05, 0.25, 0.5, 0.75, 0.95];

    private const int Bins = 10;
    private const int TopValues = 5;

    public static JsonObject Profile(DataSession session, string table, IReadOnlyList<ColumnSchema> columns)
    {
        var t = DataSession.Identifier(table);
        var select = new List<string> { "count(*)" };
        foreach (var column in columns)
        {
            var c = DataSession.Identifier(column.Name);
            select.Add($"count({c})");
            select.Add($"approx_count_distinct({c})");
            if (TypeNames.IsNumeric(column.Type))
            {
                select.Add($"min({c})::DOUBLE");
                select.Add($"max({c})::DOUBLE");
                select.Add($"avg({c})::DOUBLE");
                select.Add($"stddev_samp({c})::DOUBLE");
                select.Add($"approx_quantile({c}::DOUBLE, [{string.Join(", ", Quantiles.Select(q => q.ToString(CultureInfo.InvariantCulture)))}])");
            }
            else
            {
                select.Add($"min({c})::VARCHAR");
                select.Add($"max({c})::VARCHAR");
            }
        }

        var row = session.Query($"SELECT {string.Join(", ", select)} FROM {t}")[0];
        var rows = Convert.ToInt64(row[0], CultureInfo.InvariantCulture);
        var index = 1;
        var profiled = new JsonArray();
        foreach (var column in columns)
        {
            var c = DataSession.Identifier(column.Name);
            var nonNull = Convert.ToInt64(row[index++], CultureInfo.InvariantCulture);
            var item = new JsonObject
            {
                ["name"] = column.Name,
                ["type"] = column.Type,
                ["nulls"] = rows - nonNull,
                ["distinct"] = Convert.ToInt64(row[index++], CultureInfo.InvariantCulture),
            };
            if (TypeNames.IsNumeric(column.Type))
            {
                var min = Number(row[index++]);
                var max = Number(row[index++]);
                item["min"] = min;
                item["max"] = max;
                item["mean"] = Number(row[index++]);
                item["stddev"] = Number(row[index++]);
                var quantiles = new JsonObject();
                if (row[index++] is IEnumerable list)
                {
                    var i = 0;
                    foreach (var value in list)
                    {
                        quantiles[Quantiles[i++].ToString(CultureInfo.InvariantCulture)] = Number(value);
                    }
                }

                item["quantiles"] = quantiles;
                item["histogram"] = Histogram(session, t, c, min, max);
            }
            else
            {
                item["min"] = row[index++] as string;
                item["max"] = row[index++] as string;
            }

            var top = new JsonArray();
            foreach (var value in session.Query($"SELECT {c}::VARCHAR AS v, count(*) AS n FROM {t} WHERE {c} IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {TopValues}"))
            {
                top.Add(new JsonObject { ["value"] = value[0] as string, ["count"] = Convert.ToInt64(value[1], CultureInfo.InvariantCulture) });
            }

            item["top"] = top;
            profiled.Add(item);
        }

        return new JsonObject { ["rows"] = rows, ["columns"] = profiled };
    }

    private static JsonArray Histogram(DataSession session, string table, string column, double? min, double? max)
    {
        var histogram = new JsonArray();
        if (min is not { } lo || max is not { } hi || double.IsInfinity(lo) || double.IsInfinity(hi))
        {
            return histogram;
        }

        var width = (hi - lo) / Bins;
        var counts = new long[Bins];
        if (width <= 0)
        {
            counts[0] = Convert.ToInt64(session.Scalar($"SELECT count({column}) FROM {table}"), CultureInfo.InvariantCulture);
            histogram.Add(new JsonObject { ["lower"] = lo, ["upper"] = hi, ["count"] = counts[0] });
            return histogram;
        }

        var w = width.ToString("R", CultureInfo.InvariantCulture);
        var l = lo.ToString("R", CultureInfo.InvariantCulture);
        foreach (var bin in session.Query($"SELECT least(floor(({column}::DOUBLE - {l}) / {w})::BIGINT, {Bins - 1}) AS b, count(*) FROM {table} WHERE {column} IS NOT NULL GROUP BY b"))
        {
            var b = Convert.ToInt32(bin[0], CultureInfo.InvariantCulture);
            counts[Math.Clamp(b, 0, Bins - 1)] += Convert.ToInt64(bin[1], CultureInfo.InvariantCulture);
        }

        for (var i = 0; i < Bins; i++)
        {
            histogram.Add(new JsonObject { ["lower"] = lo + (i * width), ["upper"] = i == Bins - 1 ? hi : lo + ((i + 1) * width), ["count"] = counts[i] });
        }

        return histogram;
    }

    public static double? Number(object? value)
    {
        if (value is null)
        {
            return null;
        }

        var d = Convert.ToDouble(value, CultureInfo.InvariantCulture);
        return double.IsNaN(d) || double.IsInfinity(d) ? null : d;
    }
}
