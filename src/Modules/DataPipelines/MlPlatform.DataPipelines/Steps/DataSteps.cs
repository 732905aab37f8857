using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.DataPipelines.Quality;
using MlPlatform.DataPipelines.Transforms;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Steps;

/// <summary>
/// Base of the data.* step types: a DI scope per attempt (the types are singletons), the project's
/// name for lineage, and caller errors (bad parameters, bad data) turned into non-retryable failures.
/// </summary>
public abstract class DataStep(IServiceScopeFactory scopes) : StepType
{
    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
        var projectName = await scope.ServiceProvider.GetRequiredService<IProjectDirectory>().FindNameAsync(context.ProjectId, cancellationToken)
            ?? throw new StepFailedException("The run's project no longer exists.", retryable: false);
        var datasets = scope.ServiceProvider.GetRequiredService<DatasetService>();
        var operation = new Operation
        {
            ProjectId = context.ProjectId,
            ProjectName = projectName,
            Job = $"{Name}.{context.StepId}",
            WorkflowRunId = context.RunId,
            Step = context.StepId,
            StartedAt = datasets.Now(),
        };
        try
        {
            var outputs = await RunAsync(scope.ServiceProvider, context, operation, cancellationToken);
            return StepResult.Succeeded(outputs);
        }
        catch (PlatformException ex)
        {
            throw new StepFailedException($"{ex.Title}: {ex.Message}", retryable: false, ex);
        }
        catch (DuckDB.NET.Data.DuckDBException ex)
        {
            throw new StepFailedException("The data engine refused the data: " + Engine.DataSession.Message(ex), retryable: false, ex);
        }
        catch (FluentValidation.ValidationException ex)
        {
            throw new StepFailedException("Invalid parameters: " + string.Join(" ", ex.Errors.Select(e => $"{e.PropertyName}: {e.ErrorMessage}")), retryable: false, ex);
        }
    }

    protected abstract Task<Dictionary<string, JsonNode?>> RunAsync(IServiceProvider services, StepContext context, Operation operation, CancellationToken cancellationToken);

    protected static string Text(StepContext context, string name) =>
        context.Parameters[name] is JsonValue v && v.TryGetValue<string>(out var text) && text.Length > 0
            ? text
            : throw new StepFailedException($"The parameter '{name}' must be a non-empty string.", retryable: false);

    protected static string? OptionalText(StepContext context, string name) =>
        context.Parameters[name] is JsonValue v && v.TryGetValue<string>(out var text) && text.Length > 0 ? text : null;

    /// <summary>A dataset version named by "name@version", or by name plus an optional version parameter.</summary>
    protected static string DatasetRef(StepContext context, string parameter = "dataset")
    {
        var dataset = Text(context, parameter);
        if (!dataset.Contains('@', StringComparison.Ordinal) && context.Parameters["version"] is JsonValue v && ParameterTypes.TryGetNumber(v, out var number))
        {
            return $"{dataset}@{(int)number}";
        }

        return dataset;
    }

    protected static Dictionary<string, JsonNode?> VersionOutputs(DatasetVersionDto version, bool created) => new()
    {
        ["dataset"] = version.Dataset,
        ["version"] = version.Version,
        ["ref"] = version.Ref,
        ["key"] = version.ArtifactKey,
        ["uri"] = version.ArtifactUri,
        ["sha256"] = version.Sha256,
        ["rows"] = version.Rows,
        ["format"] = version.Format,
        ["created"] = created,
    };
}

/// <summary>data.ingest: a store object (or an uploaded version) becomes a dataset version.</summary>
public sealed class IngestStep(IServiceScopeFactory scopes) : DataStep(scopes)
{
    public override string Name => "data.ingest";

    public override string Description => "Stores an object of the artifact store (CSV, Parquet, JSON lines) as a dataset version (the same bytes give the same version), or picks an uploaded version.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("dataset", ParameterType.String, Required: true, Description: "The dataset's name (created when missing)."),
        new("source", ParameterType.String, Description: "Object key to ingest: under runs/{runId}/, datasets/{projectId}/ or projects/{project}/."),
        new("upload", ParameterType.String, Description: "Instead of source: an uploaded version of the dataset, 'latest' or a version number."),
        new("format", ParameterType.String, Description: "csv, parquet or jsonl; default from the key's extension."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (parameters.ContainsKey("source") == parameters.ContainsKey("upload"))
        {
            errors.Add(new StepParameterError("source", "Give either 'source' (an object key) or 'upload' (an uploaded version: 'latest' or a number)."));
        }

        if (values.TryGetValue("dataset", out var name) && !DatasetRules.NamePattern().IsMatch(name!.GetValue<string>()))
        {
            errors.Add(new StepParameterError("dataset", DatasetRules.NameMessage));
        }
    }

    protected override async Task<Dictionary<string, JsonNode?>> RunAsync(IServiceProvider services, StepContext context, Operation operation, CancellationToken cancellationToken)
    {
        var datasets = services.GetRequiredService<DatasetService>();
        var db = services.GetRequiredService<DataPipelinesDbContext>();
        var name = Text(context, "dataset");
        if (OptionalText(context, "upload") is { } upload)
        {
            var reference = upload == "latest" ? name : $"{name}@{upload}";
            var (found, version) = await datasets.ResolveAsync(context.ProjectId, reference, cancellationToken);
            context.Log.Info($"Using the uploaded version {found.Name}@{version.Version} ({version.Rows} rows, sha256 {version.Sha256}).");
            return VersionOutputs(DatasetMapping.ToDto(operation.ProjectName, found, version), created: false);
        }

        var source = Text(context, "source");
        var store = services.GetRequiredService<IObjectStore>();
        var dataset = await datasets.FindOrCreateAsync(context.ProjectId, operation.ProjectName, name, null, cancellationToken);
        SourceKeys.Check(source, context.ProjectId, dataset.ProjectName, context.RunId);
        var format = DataFormats.Detect(OptionalText(context, "format"), null, source)
            ?? throw new StepFailedException("Say the format (csv, parquet or jsonl), or use a key ending in .csv, .parquet or .jsonl.", retryable: false);
        using var session = datasets.OpenSession();
        var path = session.PathFor("source.bin");
        await SourceKeys.DownloadAsync(store, source, path, cancellationToken);
        var origin = new JsonObject { ["kind"] = "ingest", ["source"] = source, ["sourceUri"] = store.UriOf(source).ToString() };
        var outcome = await VersionWriting.AddAndRecordAsync(db, datasets, session, dataset, path, format, operation, origin, operation.ProjectName, cancellationToken);
        context.Log.Info(outcome.Created
            ? $"Stored {outcome.Version.Ref}: {outcome.Version.Rows} rows, sha256 {outcome.Version.Sha256}."
            : $"The content is already {outcome.Version.Ref}; nothing new stored.");
        return VersionOutputs(outcome.Version, outcome.Created);
    }
}

/// <summary>data.validate: runs a quality suite; a failing blocking rule fails the step (the report is kept).</summary>
public sealed class ValidateStep(IServiceScopeFactory scopes) : DataStep(scopes)
{
    public override string Name => "data.validate";

    public override string Description => "Runs a quality suite on a dataset version and stores the report; fails when a blocking rule fails.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("dataset", ParameterType.String, Required: true, Description: "The dataset version, name@version (or a name with 'version')."),
        new("version", ParameterType.Int, Description: "The version when 'dataset' is a bare name; default the latest."),
        new("suite", ParameterType.String, Required: true, Description: "The suite, name or name@version (default its latest)."),
    ];

    protected override async Task<Dictionary<string, JsonNode?>> RunAsync(IServiceProvider services, StepContext context, Operation operation, CancellationToken cancellationToken)
    {
        var quality = services.GetRequiredService<QualityService>();
        var suite = Text(context, "suite");
        var report = await quality.RunAsync(context.ProjectId, operation.ProjectName, DatasetRef(context), suite, new Operation
        {
            ProjectId = operation.ProjectId, ProjectName = operation.ProjectName, Job = operation.Job, WorkflowRunId = operation.WorkflowRunId,
            Step = operation.Step, StartedAt = operation.StartedAt,
        }, cancellationToken);
        foreach (var result in report.Results.Where(r => !r.Passed))
        {
            context.Log.Write(result.Severity == Severities.Blocking ? StepLogLevel.Error : StepLogLevel.Warning,
                $"{result.Severity} rule {result.Rule} failed: {result.FailingRows} failing row(s), observed {result.Observed?.ToJsonString()}.");
        }

        if (!report.Passed)
        {
            var failed = string.Join(", ", report.Results.Where(r => !r.Passed && r.Severity == Severities.Blocking).Select(r => r.Rule));
            throw new StepFailedException($"Suite {report.Suite}@{report.SuiteVersion} failed on {report.DatasetRef}: blocking rule(s) {failed} (report {report.Id}).", retryable: false);
        }

        context.Log.Info($"Suite {report.Suite}@{report.SuiteVersion} passed on {report.DatasetRef} ({report.Rows} rows, {report.Warnings} warning(s)); report {report.Id}.");
        return new Dictionary<string, JsonNode?>
        {
            ["passed"] = report.Passed,
            ["report"] = report.Id.ToString(),
            ["failedRules"] = report.FailedRules,
            ["warnings"] = report.Warnings,
            ["rows"] = report.Rows,
            ["dataset"] = report.DatasetRef,
        };
    }
}

/// <summary>data.transform: a declared transform (select, rename, filter, derive, join, deduplicate, sample) into a new version.</summary>
public sealed class TransformStep(IServiceScopeFactory scopes) : DataStep(scopes)
{
    public override string Name => "data.transform";

    public override string Description => "Derives a dataset version from an input by declared operations: select, rename, filter, derive, join, deduplicate, sample.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("input", ParameterType.String, Required: true, Description: "The input version, name@version (or a name for its latest)."),
        new("steps", ParameterType.Array, Required: true, Description: "Operations in order, e.g. {\"op\": \"filter\", \"where\": \"amount > 0\"}."),
        new("output", ParameterType.String, Required: true, Description: "The output dataset (created when missing)."),
    ];

    protected override async Task<Dictionary<string, JsonNode?>> RunAsync(IServiceProvider services, StepContext context, Operation operation, CancellationToken cancellationToken)
    {
        var transforms = services.GetRequiredService<TransformService>();
        var spec = new JsonObject { ["input"] = Text(context, "input"), ["steps"] = context.Parameters["steps"]?.DeepClone(), ["output"] = Text(context, "output") };
        var outcome = await transforms.TransformAsync(context.ProjectId, operation.ProjectName, spec, operation, cancellationToken);
        context.Log.Info($"{(outcome.Created ? "Stored" : "Unchanged:")} {outcome.Version.Ref} ({outcome.Version.Rows} rows).");
        return VersionOutputs(outcome.Version, outcome.Created);
    }
}

/// <summary>data.split: a deterministic train/test split by seed into two dataset versions (CSV).</summary>
public sealed class SplitStep(IServiceScopeFactory scopes) : DataStep(scopes)
{
    public override string Name => "data.split";

    public override string Description => "Splits a dataset version into train and test versions, deterministically for a seed.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("dataset", ParameterType.String, Required: true, Description: "The version to split, name@version (or a name for its latest)."),
        new("version", ParameterType.Int, Description: "The version when 'dataset' is a bare name."),
        new("testFraction", ParameterType.Number, Default: JsonValue.Create(0.2), Description: "Share of rows in the test set, between 0 and 1."),
        new("seed", ParameterType.Int, Default: JsonValue.Create(42), Description: "The same seed gives the same split."),
        new("names", ParameterType.Object, Description: "Output dataset names {\"train\": ..., \"test\": ...}; default {dataset}-train and {dataset}-test."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("testFraction", out var fraction) && ParameterTypes.TryGetNumber(fraction, out var f) && f is <= 0 or >= 1)
        {
            errors.Add(new StepParameterError("testFraction", "The test fraction is between 0 and 1 (exclusive)."));
        }
    }

    protected override async Task<Dictionary<string, JsonNode?>> RunAsync(IServiceProvider services, StepContext context, Operation operation, CancellationToken cancellationToken)
    {
        var transforms = services.GetRequiredService<TransformService>();
        ParameterTypes.TryGetNumber(context.Parameters["testFraction"], out var fraction);
        ParameterTypes.TryGetNumber(context.Parameters["seed"], out var seed);
        var names = context.Parameters["names"] as JsonObject;
        var outcome = await transforms.SplitAsync(context.ProjectId, operation.ProjectName, DatasetRef(context), fraction, (long)seed,
            names?["train"]?.GetValue<string>(), names?["test"]?.GetValue<string>(), operation, cancellationToken);
        context.Log.Info($"Split into {outcome.Train.Version.Ref} ({outcome.Train.Version.Rows} rows) and {outcome.Test.Version.Ref} ({outcome.Test.Version.Rows} rows).");
        return new Dictionary<string, JsonNode?>
        {
            ["train"] = outcome.Train.Version.Ref,
            ["test"] = outcome.Test.Version.Ref,
            ["trainKey"] = outcome.Train.Version.ArtifactKey,
            ["testKey"] = outcome.Test.Version.ArtifactKey,
            ["trainRows"] = outcome.Train.Version.Rows,
            ["testRows"] = outcome.Test.Version.Rows,
        };
    }
}
