using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.DataPipelines.Training.Evaluation;
using MlPlatform.DataPipelines.Training.Local;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training;

/// <summary>
/// <c>model.evaluate</c>: scores a model (a registered version, or an object key) on a data object
/// through ONNX Runtime and outputs the metrics flat, so a later step's <c>when</c> can test them.
/// For a registered version the metrics are also recorded on it (when the registry offers
/// <see cref="IModelVersionMetrics"/>).
/// </summary>
public sealed class EvaluateStep(IServiceScopeFactory scopes, TrainingSettings settings) : StepType
{
    public const string TypeName = "model.evaluate";

    public override string Name => TypeName;

    public override string Description => "Scores a model on a data object with ONNX Runtime and records accuracy, precision, recall, F1, AUC, log loss or RMSE, MAE, R².";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("model", ParameterType.String, Description: "A registered model of the project (with version)."),
        new("version", ParameterType.Any, Description: "The version number or an alias (with model)."),
        new("modelKey", ParameterType.String, Description: "Object key of an ONNX model (instead of model and version)."),
        new("data", ParameterType.String, Required: true, Description: "Object key of the evaluation data: CSV with a header row, JSON lines or Parquet."),
        new("label", ParameterType.String, Required: true, Description: "The column holding the true values."),
        new("task", ParameterType.String, Required: true, Description: "binary, multiclass or regression."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("task", out var task) && TrainStep.ParseTask(task!.GetValue<string>()) is null)
        {
            errors.Add(new StepParameterError("task", $"Unknown task '{task}' (known: binary, multiclass, regression)."));
        }

        var byModel = parameters.ContainsKey("model") || parameters.ContainsKey("version");
        var byKey = parameters.ContainsKey("modelKey");
        if (byModel == byKey)
        {
            errors.Add(new StepParameterError(byKey ? "modelKey" : "model", "Give either 'model' and 'version', or 'modelKey'."));
        }
        else if (byModel && !(parameters.ContainsKey("model") && parameters.ContainsKey("version")))
        {
            errors.Add(new StepParameterError(parameters.ContainsKey("model") ? "version" : "model", "'model' and 'version' go together."));
        }

        if (values.TryGetValue("version", out var version) && VersionText(version) is null)
        {
            errors.Add(new StepParameterError("version", "The version is a positive whole number or an alias name."));
        }
    }

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var parameters = context.Parameters;
        var errors = Validate(parameters);
        if (errors.Count > 0)
        {
            throw new StepFailedException("Invalid parameters: " + string.Join(" ", errors.Select(e => $"{e.Path}: {e.Message}")), retryable: false);
        }

        var task = TrainStep.ParseTask(parameters["task"]!.GetValue<string>())!.Value;
        var label = parameters["label"]!.GetValue<string>();
        var dataKey = parameters["data"]!.GetValue<string>();
        var outputs = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);

        string modelKey;
        ResolvedModelVersion? version = null;
        if (parameters["modelKey"] is { } key)
        {
            modelKey = key.GetValue<string>();
        }
        else
        {
            var model = parameters["model"]!.GetValue<string>();
            var versionText = VersionText(parameters["version"])!;
            await using var scope = scopes.CreateAsyncScope();
            var resolver = scope.ServiceProvider.GetService<IModelVersionResolver>()
                ?? throw new StepFailedException("No model registry on this host to resolve model versions; use 'modelKey'.", retryable: false);
            version = await resolver.ResolveAsync(context.ProjectId, model, versionText, cancellationToken)
                ?? throw new StepFailedException($"The model '{model}' has no version or alias '{versionText}' in this project.", retryable: false);
            modelKey = version.ArtifactKey;
            outputs["model"] = version.Model;
            outputs["version"] = version.Version;
        }

        await SourceKeys.CheckStepReadableAsync(scopes, context, "data", dataKey, cancellationToken);
        if (version is null)
        {
            // A registered version's file is the registry's answer for this project; a key given directly is checked.
            await SourceKeys.CheckStepReadableAsync(scopes, context, "modelKey", modelKey, cancellationToken);
        }

        var bytes = await ReadModelAsync(context.Artifacts, modelKey, cancellationToken);
        var data = await TabularData.ReadAsync(context.Artifacts, dataKey, settings.MaxDataBytes, cancellationToken);
        var labelIndex = data.IndexOf(label);
        if (labelIndex < 0)
        {
            throw new StepFailedException($"The label column '{label}' is not in '{dataKey}' (columns: {string.Join(", ", data.Columns)}).", retryable: false);
        }

        var scores = OnnxScorer.Score(bytes, data, label, task, cancellationToken);
        var metrics = Compute(task, data, labelIndex, label, scores);
        context.Log.Info($"Evaluated '{modelKey}' on {data.Rows.Count} rows of '{dataKey}': {string.Join(", ", metrics.Select(m => $"{m.Key}={m.Value.ToString("G6", CultureInfo.InvariantCulture)}"))}.");

        var recorded = false;
        if (version is not null)
        {
            await using var scope = scopes.CreateAsyncScope();
            if (scope.ServiceProvider.GetService<IModelVersionMetrics>() is { } sink)
            {
                recorded = await sink.RecordAsync(context.ProjectId, version.Model, version.Version, metrics, $"run {context.RunId} step {context.StepId}", cancellationToken);
            }
            else
            {
                context.Log.Warning("The model registry on this host does not record evaluation metrics; they are in the step's outputs only.");
            }
        }

        foreach (var (name, value) in metrics)
        {
            outputs[name] = value;
        }

        outputs["metrics"] = new JsonObject(metrics.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)m.Value)));
        outputs["modelKey"] = modelKey;
        outputs["rows"] = data.Rows.Count;
        outputs["task"] = LocalTrainingBackend.TaskName(task);
        outputs["recorded"] = recorded;
        return StepResult.Succeeded(outputs);
    }

    private static async Task<byte[]> ReadModelAsync(IObjectStore store, string key, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await store.OpenReadAsync(key, cancellationToken);
            using var buffer = new MemoryStream();
            await stream.CopyToAsync(buffer, cancellationToken);
            return buffer.ToArray();
        }
        catch (ObjectNotFoundException)
        {
            throw new StepFailedException($"The model object '{key}' does not exist in the artifact store.", retryable: false);
        }
        catch (InvalidObjectKeyException ex)
        {
            throw new StepFailedException(ex.Message, retryable: false);
        }
    }

    private static Dictionary<string, double> Compute(TrainingTask task, TabularData data, int labelIndex, string label, Scores scores)
    {
        var values = data.Values(labelIndex).ToArray();
        var empty = Array.IndexOf(values, null);
        if (empty >= 0)
        {
            throw new StepFailedException($"Row {empty + 1}: the label '{label}' is empty.", retryable: false);
        }

        var metrics = task switch
        {
            TrainingTask.Binary => EvaluationMetrics.Binary(
                values.Select((v, i) => LocalTrainingBackend.ParseBinary(v) ?? throw new StepFailedException($"Row {i + 1}: the binary label '{label}' is '{v}'; use true/false, 1/0 or yes/no.", retryable: false)).ToArray(),
                scores.Probability!),
            TrainingTask.Multiclass => Multiclass(values!, scores),
            _ => EvaluationMetrics.Regression(
                values.Select((v, i) => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : throw new StepFailedException($"Row {i + 1}: the label '{label}' is '{v}', not a number.", retryable: false)).ToArray(),
                scores.Score!),
        };
        return metrics.Where(m => double.IsFinite(m.Value)).ToDictionary(m => m.Key, m => m.Value);
    }

    private static Dictionary<string, double> Multiclass(string[] actual, Scores scores)
    {
        var metrics = EvaluationMetrics.Multiclass(actual, scores.PredictedLabel!);
        if (scores.ClassScores is { } vectors && EvaluationMetrics.ClassOrder(scores.PredictedLabel!, vectors, actual) is { } classes)
        {
            EvaluationMetrics.AddProbabilistic(metrics, actual, vectors, classes);
        }

        return metrics;
    }

    /// <summary>"3", 3 or "champion"; null for anything else.</summary>
    private static string? VersionText(JsonNode? value)
    {
        if (ParameterTypes.TryGetNumber(value, out var number))
        {
            return number >= 1 && Math.Floor(number) == number ? ((long)number).ToString(CultureInfo.InvariantCulture) : null;
        }

        return value is JsonValue v && v.TryGetValue<string>(out var text) && !string.IsNullOrWhiteSpace(text) && text.Length <= 100 ? text.Trim() : null;
    }
}
