using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.DataPipelines.Quality;

namespace MlPlatform.Benchmarks;

/// <summary>
/// D1: validating a generated CSV (default 1M rows, 10 columns) with 5 rules, against the raw parse
/// of the same file by the same engine, side by side in one run. Both sides read the file with the
/// version's stored column types (what a validation does: the schema was inferred at upload), so the
/// difference is the rules' cost: one aggregate scan plus the failing rules' samples.
/// </summary>
internal static class ValidateBenchmark
{
    private static readonly string[] Countries = ["FR", "DE", "IT", "ES", "NL"];

    public static Task RunAsync(int rows, int rounds)
    {
        using var session = DataSession.Open();
        var path = session.PathFor("data.csv");
        var generate = Stopwatch.StartNew();
        Generate(path, rows);
        Console.WriteLine($"Generated {rows:N0} rows x 10 columns ({new FileInfo(path).Length / 1048576.0:F1} MiB) in {generate.Elapsed.TotalSeconds:F1} s");

        // The schema, inferred once as an upload would; not timed.
        session.Load("probe", path, DataFormats.Csv);
        var columns = session.Describe("probe");
        session.Execute("DROP TABLE probe");
        Console.WriteLine("Columns: " + string.Join(", ", columns.Select(c => $"{c.Name}:{c.Type}")));

        var rules = QualityRule.ParseAll(JsonNode.Parse("""
            [
              {"type": "not_null", "column": "age"},
              {"type": "between", "column": "age", "min": 0, "max": 120},
              {"type": "in_set", "column": "country", "values": ["FR", "DE", "IT", "ES", "NL"]},
              {"type": "regex", "column": "email", "pattern": "[a-z0-9.]+@[a-z0-9]+\\.[a-z]+"},
              {"type": "unique", "column": "id"}
            ]
            """)!.AsArray());

        double Raw()
        {
            var clock = Stopwatch.StartNew();
            session.Load("raw", path, DataFormats.Csv, columns);
            var elapsed = clock.Elapsed.TotalSeconds;
            session.Execute("DROP TABLE raw");
            return elapsed;
        }

        SuiteOutcome? outcome = null;
        double Validate()
        {
            var clock = Stopwatch.StartNew();
            session.Load("data", path, DataFormats.Csv, columns);
            outcome = SuiteRunner.Run(session, "data", columns, rules, firstLine: 2);
            var elapsed = clock.Elapsed.TotalSeconds;
            session.Execute("DROP TABLE data");
            return elapsed;
        }

        Raw();
        Validate();
        var raw = new List<double>();
        var validate = new List<double>();
        for (var round = 0; round < rounds; round++)
        {
            // Alternate which side goes first, so neither always gets the warmer cache.
            if (round % 2 == 0)
            {
                raw.Add(Raw());
                validate.Add(Validate());
            }
            else
            {
                validate.Add(Validate());
                raw.Add(Raw());
            }
        }

        var rawMedian = Median(raw);
        var validateMedian = Median(validate);
        Console.WriteLine();
        Console.WriteLine($"| side | seconds (rounds) | median s | rows/s |");
        Console.WriteLine($"|---|---|---|---|");
        Console.WriteLine($"| raw parse (read_csv → table) | {string.Join(" · ", raw.Select(F))} | {F(rawMedian)} | {rows / rawMedian:N0} |");
        Console.WriteLine($"| validate (parse + 5 rules) | {string.Join(" · ", validate.Select(F))} | {F(validateMedian)} | {rows / validateMedian:N0} |");
        Console.WriteLine();
        Console.WriteLine($"Validation: {rows / validateMedian:N0} rows/s (target ≥ 1,000,000); ratio to raw parse {rawMedian / validateMedian:F2} (target ≥ 0.5)");
        Console.WriteLine("Rule results: " + string.Join("; ", outcome!.Results.Select(r => $"{r.Rule} {(r.Passed ? "pass" : "FAIL")} ({r.FailingRows} failing)")));
        return Task.CompletedTask;
    }

    private static string F(double seconds) => seconds.ToString("F3", CultureInfo.InvariantCulture);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }

    /// <summary>Deterministic data with a few planted errors (about 0.1% null ages, 0.1% unknown countries).</summary>
    private static void Generate(string path, int rows)
    {
        var random = new Random(20261129);
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 20);
        writer.Write("id,age,country,email,score,amount,active,category,signup,note\n");
        var line = new StringBuilder(160);
        for (var i = 0; i < rows; i++)
        {
            line.Clear();
            line.Append(i).Append(',');
            if (random.Next(1000) != 0)
            {
                line.Append(18 + random.Next(70));
            }

            line.Append(',').Append(random.Next(1000) == 0 ? "XX" : Countries[random.Next(Countries.Length)]);
            line.Append(",user").Append(i).Append("@example.com,");
            line.Append((random.NextDouble()).ToString("F4", CultureInfo.InvariantCulture)).Append(',');
            line.Append((random.NextDouble() * 1000).ToString("F2", CultureInfo.InvariantCulture)).Append(',');
            line.Append(random.Next(2) == 0 ? "true" : "false").Append(',');
            line.Append("cat").Append(random.Next(20)).Append(',');
            line.Append(new DateOnly(2020, 1, 1).AddDays(random.Next(1500)).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).Append(',');
            line.Append("note ").Append(random.Next(100000)).Append('\n');
            writer.Write(line);
        }
    }
}
