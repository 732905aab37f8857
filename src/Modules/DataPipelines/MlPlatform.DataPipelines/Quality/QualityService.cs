using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.DataPipelines.Quality;

public sealed record QualityReportDto(
    Guid Id,
    string Project,
    string Suite,
    int SuiteVersion,
    string Dataset,
    int DatasetVersion,
    string DatasetRef,
    bool Passed,
    int FailedRules,
    int Warnings,
    long Rows,
    IReadOnlyList<RuleResult> Results,
    Guid? RunId,
    DateTimeOffset CreatedAt);

/// <summary>Runs suites on dataset versions and stores the reports; shared by the API and the data.validate step.</summary>
public sealed class QualityService(DataPipelinesDbContext db, DatasetService datasets)
{
    /// <summary>A suite reference: name (every version, or the latest where one is meant) or name@version.</summary>
    public static (string Name, int? Version) ParseSuiteRef(string reference)
    {
        var at = reference.LastIndexOf('@');
        var name = at < 0 ? reference : reference[..at];
        // Suites are named as datasets are.
        if (!DatasetRules.NamePattern().IsMatch(name))
        {
            throw new BadRequestException($"'{reference}' is not a suite reference: write name or name@version.");
        }

        if (at < 0)
        {
            return (name, null);
        }

        return int.TryParse(reference[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? (name, n)
            : throw new BadRequestException($"'{reference}' is not a suite reference: write name or name@version.");
    }

    public async Task<QualitySuite> FindSuiteAsync(Guid projectId, string reference, CancellationToken cancellationToken)
    {
        var (name, number) = ParseSuiteRef(reference);
        var suites = db.QualitySuites.AsNoTracking().Where(s => s.ProjectId == projectId && s.Name == name);
        var suite = number is { } v
            ? await suites.SingleOrDefaultAsync(s => s.Version == v, cancellationToken)
            : await suites.OrderByDescending(s => s.Version).FirstOrDefaultAsync(cancellationToken);
        return suite ?? throw new NotFoundException("Quality suite", reference);
    }

    public static List<QualityRule> RulesOf(QualitySuite suite) =>
        QualityRule.ParseAll(JsonNode.Parse(suite.Rules) as JsonArray);

    public async Task<QualityReportDto> RunAsync(Guid projectId, string projectName, string datasetRef, string suiteRef, Operation operation, CancellationToken cancellationToken)
    {
        var (dataset, version) = await datasets.ResolveAsync(projectId, datasetRef, cancellationToken);
        var suite = await FindSuiteAsync(projectId, suiteRef, cancellationToken);
        var rules = RulesOf(suite);
        var input = DatasetService.Ref(dataset, version);
        SuiteOutcome outcome;
        try
        {
            using var session = datasets.OpenSession();
            var path = await datasets.LocalCopyAsync(session, version, "data." + DataFormats.Extension(version.Format), cancellationToken);
            var columns = DatasetService.SchemaOf(version);
            session.Load("data", path, version.Format, version.Format == DataFormats.Parquet ? null : columns);
            outcome = SuiteRunner.Run(session, "data", columns, rules, DatasetService.FirstLine(version.Format));
        }
        catch (Exception ex) when (ex is PlatformException or DuckDB.NET.Data.DuckDBException)
        {
            // An engine error here is the data's or the rules' (a value a regex cannot take, say), never ours to 500 on.
            var error = ex as PlatformException ?? new UnprocessableException("The suite cannot run on this version: " + DataSession.Message(ex), ex);
            operation.Inputs.Add((input, null));
            LineageRecorder.Finish(db, operation, datasets.Now(), error.Message);
            await db.SaveChangesAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            if (ReferenceEquals(error, ex))
            {
                throw;
            }

            throw error;
        }

        operation.Inputs.Add((input, QualityFacets(version, outcome)));
        var report = new QualityReport
        {
            Id = Guid.CreateVersion7(),
            ProjectId = projectId,
            SuiteId = suite.Id,
            DatasetVersionId = version.Id,
            Passed = outcome.Passed,
            FailedRules = outcome.FailedRules,
            Warnings = outcome.Warnings,
            Rows = outcome.Rows,
            Results = JsonSerializer.Serialize(outcome.Results, JsonSerializerOptions.Web),
            RunId = operation.RunId,
            CreatedAt = datasets.Now(),
        };
        db.QualityReports.Add(report);
        LineageRecorder.Finish(db, operation, datasets.Now(), error: null);
        await db.SaveChangesAsync(cancellationToken);
        db.ChangeTracker.Clear();
        return new QualityReportDto(report.Id, projectName, suite.Name, suite.Version, dataset.Name, version.Version, $"{dataset.Name}@{version.Version}",
            report.Passed, report.FailedRules, report.Warnings, report.Rows, outcome.Results, report.RunId, report.CreatedAt);
    }

    public async Task<QualityReportDto> GetReportAsync(Guid projectId, string projectName, Guid id, CancellationToken cancellationToken)
    {
        var report = await db.QualityReports.AsNoTracking().SingleOrDefaultAsync(r => r.Id == id && r.ProjectId == projectId, cancellationToken)
            ?? throw new NotFoundException("Quality report", id.ToString());
        var suite = await db.QualitySuites.AsNoTracking().SingleAsync(s => s.Id == report.SuiteId, cancellationToken);
        var version = await db.DatasetVersions.AsNoTracking().SingleAsync(v => v.Id == report.DatasetVersionId, cancellationToken);
        var dataset = await db.Datasets.AsNoTracking().SingleAsync(d => d.Id == version.DatasetId, cancellationToken);
        var results = JsonSerializer.Deserialize<List<RuleResult>>(report.Results, JsonSerializerOptions.Web) ?? [];
        return new QualityReportDto(report.Id, projectName, suite.Name, suite.Version, dataset.Name, version.Version, $"{dataset.Name}@{version.Version}",
            report.Passed, report.FailedRules, report.Warnings, report.Rows, results, report.RunId, report.CreatedAt);
    }

    /// <summary>OpenLineage input facets: the profile's metrics and the suite's assertions.</summary>
    private static JsonObject QualityFacets(DatasetVersion version, SuiteOutcome outcome)
    {
        var columnMetrics = new JsonObject();
        if (JsonNode.Parse(version.Profile)?["columns"] is JsonArray columns)
        {
            foreach (var column in columns.OfType<JsonObject>())
            {
                var metrics = new JsonObject
                {
                    ["nullCount"] = column["nulls"]?.DeepClone(),
                    ["distinctCount"] = column["distinct"]?.DeepClone(),
                    ["count"] = version.Rows,
                };
                if (column["min"] is JsonValue min && min.GetValueKind() == JsonValueKind.Number)
                {
                    metrics["min"] = min.DeepClone();
                    metrics["max"] = column["max"]?.DeepClone();
                    metrics["quantiles"] = column["quantiles"]?.DeepClone();
                }

                columnMetrics[column["name"]!.GetValue<string>()] = metrics;
            }
        }

        var assertions = new JsonArray();
        foreach (var result in outcome.Results)
        {
            var assertion = new JsonObject { ["assertion"] = result.Rule, ["success"] = result.Passed };
            if (result.Column is not null)
            {
                assertion["column"] = result.Column;
            }

            assertions.Add(assertion);
        }

        return new JsonObject
        {
            ["dataQualityMetrics"] = LineageRecorder.Facet("https://openlineage.io/spec/facets/1-0-2/DataQualityMetricsInputDatasetFacet.json", new JsonObject
            {
                ["rowCount"] = outcome.Rows,
                ["bytes"] = version.SizeBytes,
                ["columnMetrics"] = columnMetrics,
            }),
            ["dataQualityAssertions"] = LineageRecorder.Facet("https://openlineage.io/spec/facets/1-0-1/DataQualityAssertionsDatasetFacet.json", new JsonObject
            {
                ["assertions"] = assertions,
            }),
        };
    }

    /// <summary>A starter suite from a version's profile: not-null where nothing is null, types, observed ranges and small value sets, a row-count band.</summary>
    public static JsonArray Suggest(DatasetVersion version)
    {
        var rules = new JsonArray
        {
            new JsonObject { ["type"] = RuleTypes.RowCountBetween, ["min"] = version.Rows / 2, ["max"] = version.Rows * 2, ["severity"] = Severities.Warning },
        };
        if (JsonNode.Parse(version.Profile)?["columns"] is not JsonArray columns)
        {
            return rules;
        }

        foreach (var column in columns.OfType<JsonObject>())
        {
            var name = column["name"]!.GetValue<string>();
            var type = column["type"]!.GetValue<string>();
            var nulls = column["nulls"]!.GetValue<long>();
            var distinct = column["distinct"]!.GetValue<long>();
            rules.Add(new JsonObject { ["type"] = RuleTypes.Type, ["column"] = name, ["dataType"] = type });
            if (nulls == 0)
            {
                rules.Add(new JsonObject { ["type"] = RuleTypes.NotNull, ["column"] = name });
            }

            if (TypeNames.IsNumeric(type) && column["min"] is JsonValue min && column["max"] is JsonValue max)
            {
                rules.Add(new JsonObject { ["type"] = RuleTypes.Between, ["column"] = name, ["min"] = min.DeepClone(), ["max"] = max.DeepClone() });
            }
            else if (type == TypeNames.String && column["top"] is JsonArray top && distinct <= 10 && top.Count == distinct && top.Count > 0)
            {
                rules.Add(new JsonObject { ["type"] = RuleTypes.InSet, ["column"] = name, ["values"] = new JsonArray(top.Select(t => (JsonNode?)JsonValue.Create(t!["value"]!.GetValue<string>())).ToArray()) });
            }

            if (nulls == 0 && distinct >= version.Rows && version.Rows > 0)
            {
                rules.Add(new JsonObject { ["type"] = RuleTypes.Unique, ["column"] = name, ["severity"] = Severities.Warning });
            }
        }

        return rules;
    }
}
