using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using DuckDB.NET.Data;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.DataPipelines.Quality;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.DataPipelines.Transforms;

public sealed record SplitOutcome(VersionOutcome Train, VersionOutcome Test);

/// <summary>
/// Declared transforms: a spec names an input version, a list of operations (select, rename,
/// filter, derive, join, deduplicate, sample) and an output dataset. Each operation becomes one
/// SQL step over the previous one; a hidden row id keeps the input order, so the same spec on the
/// same input writes the same bytes (and so the same version). Results are CSV with a header.
/// </summary>
public sealed class TransformService(DataPipelinesDbContext db, DatasetService datasets)
{
    private const string RowId = "__rid";

    public static readonly IReadOnlyList<string> Operations = ["select", "rename", "filter", "derive", "join", "deduplicate", "sample"];

    public async Task<VersionOutcome> TransformAsync(Guid projectId, string projectName, JsonObject spec, Operation operation, CancellationToken cancellationToken)
    {
        var input = Text(spec, "input") ?? throw Invalid.Field("input", "Name the input version: \"input\": \"name@version\".");
        var output = Text(spec, "output") ?? throw Invalid.Field("output", "Name the output dataset: \"output\": \"name\".");
        if (!DatasetRules.NamePattern().IsMatch(output))
        {
            throw Invalid.Field("output", DatasetRules.NameMessage);
        }

        if (spec["steps"] is not JsonArray steps || steps.Count == 0 || steps.Count > 50)
        {
            throw Invalid.Field("steps", $"List 1 to 50 operations in \"steps\", each an object with \"op\": {string.Join(", ", Operations)}.");
        }

        foreach (var (key, _) in spec)
        {
            if (key is not ("input" or "output" or "steps"))
            {
                throw Invalid.Field(key, $"Unknown field '{key}': a transform has input, steps and output.");
            }
        }

        var (dataset, version) = await datasets.ResolveAsync(projectId, input, cancellationToken);
        var outputDataset = await datasets.FindOrCreateAsync(projectId, projectName, output, operation.CreatedBy, cancellationToken);
        using var session = datasets.OpenSession();
        try
        {
            await LoadAsync(session, "t0", version, cancellationToken);
            operation.Inputs.Add((DatasetService.Ref(dataset, version), null));
            var current = "t0";
            for (var i = 0; i < steps.Count; i++)
            {
                // Each operation is a statement over the whole dataset; a cancelled step stops between them.
                cancellationToken.ThrowIfCancellationRequested();
                if (steps[i] is not JsonObject step)
                {
                    throw Invalid.Field($"steps[{i}]", "An operation is a JSON object.");
                }

                var next = $"t{i + 1}";
                var sql = await StepSqlAsync(session, projectId, step, i, current, operation, cancellationToken);
                Run(session, $"CREATE TABLE {next} AS {sql}", i, step["op"]?.ToString() ?? "?");
                current = next;
            }

            var path = session.PathFor("output.csv");
            session.Execute($"COPY (SELECT * EXCLUDE ({RowId}) FROM {current} ORDER BY {RowId}) TO {DataSession.Literal(path)} (HEADER, DELIMITER ',')");
            if (session.Count(current) == 0)
            {
                throw new UnprocessableException("The transform leaves no rows; a dataset version needs at least one.");
            }

            var origin = new JsonObject { ["kind"] = "transform", ["inputs"] = new JsonArray(operation.Inputs.Select(i => (JsonNode?)i.Dataset.Name).ToArray()), ["spec"] = spec.DeepClone() };
            return await VersionWriting.AddAndRecordAsync(db, datasets, session, outputDataset, path, DataFormats.Csv, operation, origin, projectName, cancellationToken);
        }
        catch (Exception ex) when (ex is PlatformException or FluentValidation.ValidationException && !operation.Finished)
        {
            await RecordFailureAsync(operation, ex.Message);
            throw;
        }
    }

    private async Task RecordFailureAsync(Operation operation, string error)
    {
        db.ChangeTracker.Clear();
        LineageRecorder.Finish(db, operation, datasets.Now(), error);
        await db.SaveChangesAsync(CancellationToken.None);
        db.ChangeTracker.Clear();
    }

    public async Task<SplitOutcome> SplitAsync(
        Guid projectId, string projectName, string input, double testFraction, long seed, string? trainName, string? testName, Operation operation, CancellationToken cancellationToken)
    {
        if (testFraction is <= 0 or >= 1)
        {
            throw Invalid.Field("testFraction", "The test fraction is between 0 and 1 (exclusive), e.g. 0.2.");
        }

        var (dataset, version) = await datasets.ResolveAsync(projectId, input, cancellationToken);
        trainName ??= $"{dataset.Name}-train";
        testName ??= $"{dataset.Name}-test";
        if (trainName == testName)
        {
            throw Invalid.Field("names", "The train and test datasets need different names.");
        }

        var train = await datasets.FindOrCreateAsync(projectId, projectName, trainName, operation.CreatedBy, cancellationToken);
        var test = await datasets.FindOrCreateAsync(projectId, projectName, testName, operation.CreatedBy, cancellationToken);
        using var session = datasets.OpenSession();
        operation.Inputs.Add((DatasetService.Ref(dataset, version), null));
        try
        {
            return await SplitCoreAsync(session, projectName, dataset, version, testFraction, seed, train, test, operation, cancellationToken);
        }
        catch (Exception ex) when (ex is PlatformException or FluentValidation.ValidationException && !operation.Finished)
        {
            await RecordFailureAsync(operation, ex.Message);
            throw;
        }
    }

    private async Task<SplitOutcome> SplitCoreAsync(
        DataSession session, string projectName, Dataset dataset, DatasetVersion version, double testFraction, long seed, Dataset train, Dataset test,
        Operation operation, CancellationToken cancellationToken)
    {
        await LoadAsync(session, "t0", version, cancellationToken);
        // A row goes to test when the hash of (row id, seed) falls below the fraction: the same seed, the same split.
        var threshold = ((long)Math.Round(testFraction * 1_000_000)).ToString(CultureInfo.InvariantCulture);
        var inTest = $"hash({RowId}, {seed.ToString(CultureInfo.InvariantCulture)}::BIGINT) % 1000000 < {threshold}";
        var trainPath = session.PathFor("train.csv");
        var testPath = session.PathFor("test.csv");
        session.Execute($"COPY (SELECT * EXCLUDE ({RowId}) FROM t0 WHERE NOT ({inTest}) ORDER BY {RowId}) TO {DataSession.Literal(trainPath)} (HEADER, DELIMITER ',')");
        session.Execute($"COPY (SELECT * EXCLUDE ({RowId}) FROM t0 WHERE {inTest} ORDER BY {RowId}) TO {DataSession.Literal(testPath)} (HEADER, DELIMITER ',')");
        var testRows = Convert.ToInt64(session.Scalar($"SELECT count(*) FROM t0 WHERE {inTest}"), CultureInfo.InvariantCulture);
        if (testRows == 0 || testRows == version.Rows)
        {
            throw new UnprocessableException($"Splitting {version.Rows} rows with testFraction {testFraction.ToString(CultureInfo.InvariantCulture)} leaves one side empty; use more rows or another fraction.");
        }

        var spec = new JsonObject { ["testFraction"] = testFraction, ["seed"] = seed };
        var origin = new JsonObject { ["kind"] = "split", ["inputs"] = new JsonArray((JsonNode?)$"{dataset.Name}@{version.Version}"), ["spec"] = spec };
        var (trainVersion, trainCreated) = await datasets.AddVersionAsync(session, train, trainPath, DataFormats.Csv, operation, WithPart(origin, "train"), cancellationToken);
        var (testVersion, testCreated) = await datasets.AddVersionAsync(session, test, testPath, DataFormats.Csv, operation, WithPart(origin, "test"), cancellationToken);
        operation.Outputs.Add(DatasetService.Ref(train, trainVersion));
        operation.Outputs.Add(DatasetService.Ref(test, testVersion));
        LineageRecorder.Finish(db, operation, datasets.Now(), error: null);
        await db.SaveChangesAsync(cancellationToken);
        db.ChangeTracker.Clear();
        return new SplitOutcome(
            new VersionOutcome(DatasetMapping.ToDto(projectName, train, trainVersion), trainCreated),
            new VersionOutcome(DatasetMapping.ToDto(projectName, test, testVersion), testCreated));
    }

    private static JsonObject WithPart(JsonObject origin, string part)
    {
        var copy = (JsonObject)origin.DeepClone();
        copy["part"] = part;
        return copy;
    }

    private async Task LoadAsync(DataSession session, string table, DatasetVersion version, CancellationToken cancellationToken)
    {
        var path = await datasets.LocalCopyAsync(session, version, $"{table}.{DataFormats.Extension(version.Format)}", cancellationToken);
        var columns = DatasetService.SchemaOf(version);
        var read = DataSession.ReadFunction(path, version.Format, version.Format == DataFormats.Parquet ? null : columns);
        session.Execute($"CREATE TABLE src_{table} AS SELECT * FROM {read}");
        session.Execute($"CREATE TABLE {table} AS SELECT rowid AS {RowId}, * FROM src_{table}");
    }

    private async Task<string> StepSqlAsync(DataSession session, Guid projectId, JsonObject step, int index, string current, Operation operation, CancellationToken cancellationToken)
    {
        var path = $"steps[{index}]";
        var op = Text(step, "op");
        var columns = session.Describe(current).Select(c => c.Name).Where(c => c != RowId).ToList();
        void Need(IEnumerable<string> names, List<string> available, string where)
        {
            var missing = names.Where(n => !available.Contains(n)).ToList();
            if (missing.Count > 0)
            {
                throw new UnprocessableException($"{path} ({op}) refers to missing column(s) {string.Join(", ", missing.Select(m => $"'{m}'"))}{where}; available: {string.Join(", ", available)}.");
            }
        }

        string Expression(string field)
        {
            var expression = Text(step, field);
            return ExpressionCheck.Problem(expression) is { } problem ? throw Invalid.Field($"{path}.{field}", problem) : expression!;
        }

        List<string> Names(string field, bool required)
        {
            var node = step[field];
            if (node is null && !required)
            {
                return [];
            }

            if (node is not JsonArray array || array.Count == 0 || array.Any(n => n is not JsonValue v || v.GetValueKind() != JsonValueKind.String))
            {
                throw Invalid.Field($"{path}.{field}", $"'{field}' is a non-empty array of column names.");
            }

            return array.Select(n => n!.GetValue<string>()).ToList();
        }

        switch (op)
        {
            case "select":
            {
                var names = Names("columns", required: true);
                Need(names, columns, string.Empty);
                return $"SELECT {RowId}, {string.Join(", ", names.Select(DataSession.Identifier))} FROM {current}";
            }

            case "rename":
            {
                if (step["columns"] is not JsonObject map || map.Count == 0 || map.Any(p => p.Value is not JsonValue v || v.GetValueKind() != JsonValueKind.String || v.GetValue<string>().Length == 0))
                {
                    throw Invalid.Field($"{path}.columns", "'columns' maps old names to new names, e.g. {\"amt\": \"amount\"}.");
                }

                Need(map.Select(p => p.Key), columns, string.Empty);
                var renamed = columns.Select(c => map[c] is JsonValue to ? $"{DataSession.Identifier(c)} AS {DataSession.Identifier(to.GetValue<string>())}" : DataSession.Identifier(c));
                return $"SELECT {RowId}, {string.Join(", ", renamed)} FROM {current}";
            }

            case "filter":
                return $"SELECT * FROM {current} WHERE coalesce(({Expression("where")}), false)";
            case "derive":
            {
                var column = Text(step, "column");
                if (string.IsNullOrEmpty(column) || column.Length > 200 || column == RowId)
                {
                    throw Invalid.Field($"{path}.column", "Name the derived column (1 to 200 characters).");
                }

                var expression = Expression("expression");
                return columns.Contains(column)
                    ? $"SELECT * REPLACE (({expression}) AS {DataSession.Identifier(column)}) FROM {current}"
                    : $"SELECT *, ({expression}) AS {DataSession.Identifier(column)} FROM {current}";
            }

            case "join":
            {
                var with = Text(step, "with") ?? throw Invalid.Field($"{path}.with", "Name the dataset version to join: \"with\": \"name@version\".");
                var on = Names("on", required: true);
                var how = Text(step, "how") ?? "inner";
                if (how is not ("inner" or "left"))
                {
                    throw Invalid.Field($"{path}.how", "A join is 'inner' or 'left'.");
                }

                var (other, otherVersion) = await datasets.ResolveAsync(projectId, with, cancellationToken);
                var table = $"j{index}";
                await LoadAsync(session, table, otherVersion, cancellationToken);
                operation.Inputs.Add((DatasetService.Ref(other, otherVersion), null));
                var right = session.Describe(table).Select(c => c.Name).Where(c => c != RowId).ToList();
                Need(on, columns, " on the left");
                Need(on, right, $" in {other.Name}@{otherVersion.Version}");
                var clash = right.Where(c => !on.Contains(c) && columns.Contains(c)).ToList();
                if (clash.Count > 0)
                {
                    throw new UnprocessableException($"{path} (join): both sides have the column(s) {string.Join(", ", clash.Select(c => $"'{c}'"))}; rename or drop them first.");
                }

                var condition = string.Join(" AND ", on.Select(c => $"l.{DataSession.Identifier(c)} = r.{DataSession.Identifier(c)}"));
                var rightColumns = right.Where(c => !on.Contains(c)).Select(c => $"r.{DataSession.Identifier(c)}");
                var selected = string.Join(", ", columns.Select(c => $"l.{DataSession.Identifier(c)}").Concat(rightColumns));
                return $"SELECT row_number() OVER (ORDER BY l.{RowId}, r.{RowId}) - 1 AS {RowId}, {selected} FROM {current} l {(how == "left" ? "LEFT" : "INNER")} JOIN {table} r ON {condition}";
            }

            case "deduplicate":
            {
                var names = Names("columns", required: false);
                Need(names, columns, string.Empty);
                var key = string.Join(", ", (names.Count > 0 ? names : columns).Select(DataSession.Identifier));
                return $"SELECT * FROM {current} QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY {RowId}) = 1";
            }

            case "sample":
            {
                var seed = Integer(step, "seed", path) ?? 0;
                var fraction = Number(step, "fraction", path);
                var rows = Integer(step, "rows", path);
                if ((fraction is null) == (rows is null) || fraction is <= 0 or > 1 || rows is <= 0)
                {
                    throw Invalid.Field(path, "A sample takes either 'fraction' (0 to 1) or 'rows' (a positive count), and an optional 'seed'.");
                }

                var hash = $"hash({RowId}, {seed.ToString(CultureInfo.InvariantCulture)}::BIGINT)";
                return fraction is { } f
                    ? $"SELECT * FROM {current} WHERE {hash} % 1000000 < {((long)Math.Round(f * 1_000_000)).ToString(CultureInfo.InvariantCulture)}"
                    : $"SELECT * FROM (SELECT * FROM {current} ORDER BY {hash}, {RowId} LIMIT {rows!.Value.ToString(CultureInfo.InvariantCulture)})";
            }

            default:
                throw Invalid.Field($"{path}.op", $"The operation must be one of: {string.Join(", ", Operations)}.");
        }
    }

    private static void Run(DataSession session, string sql, int index, string op)
    {
        try
        {
            session.Execute(sql);
        }
        catch (DuckDBException ex)
        {
            throw new UnprocessableException($"steps[{index}] ({op}) cannot run: {DataSession.Message(ex)}");
        }
    }

    private static string? Text(JsonObject json, string field) =>
        json[field] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    private static double? Number(JsonObject json, string field, string path)
    {
        var node = json[field];
        if (node is null)
        {
            return null;
        }

        return node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
            ? double.Parse(v.ToJsonString(), CultureInfo.InvariantCulture)
            : throw Invalid.Field($"{path}.{field}", $"'{field}' must be a number.");
    }

    private static long? Integer(JsonObject json, string field, string path)
    {
        var node = json[field];
        if (node is null)
        {
            return null;
        }

        return node is JsonValue v && v.TryGetValue<long>(out var n) ? n
            : node is JsonValue d && d.TryGetValue<double>(out var x) && Math.Floor(x) == x && Math.Abs(x) < 1e15 ? (long)x
            : throw Invalid.Field($"{path}.{field}", $"'{field}' must be a whole number.");
    }
}
