using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Training.Local;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training;

/// <summary>
/// <c>model.train</c>: trains a model on a data object with the chosen backend and writes it as ONNX to
/// <c>runs/{runId}/{stepId}/model.onnx</c>. Outputs modelKey, the training metrics (flat and as
/// <c>metrics</c>), trainer, task and backend.
/// </summary>
public sealed class TrainStep(IEnumerable<ITrainingBackend> backends, IServiceScopeFactory scopes) : StepType
{
    public const string TypeName = "model.train";

    private static readonly string[] Tasks = ["binary", "multiclass", "regression"];

    private readonly IReadOnlyDictionary<string, ITrainingBackend> _backends = backends.ToDictionary(b => b.Name, StringComparer.Ordinal);

    public override string Name => TypeName;

    public override string Description => "Trains a model (ML.NET locally, or SageMaker) on a data object and stores it as ONNX.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("data", ParameterType.String, Required: true, Description: "Object key of the training data: CSV with a header row, JSON lines (.jsonl) or Parquet (.parquet)."),
        new("label", ParameterType.String, Required: true, Description: "The column to predict."),
        new("task", ParameterType.String, Required: true, Description: "binary, multiclass or regression."),
        new("trainer", ParameterType.String, Default: TrainerCatalog.Sdca, Description: "Local: sdca, fasttree or lightgbm. SageMaker: a name recorded in the outputs."),
        new("features", ParameterType.Array, Description: "Feature columns; every column but the label by default. Numbers are used as floats, text is one-hot encoded."),
        new("hyperparameters", ParameterType.Object, Description: "The trainer's hyper-parameters; unknown names are errors for the local backend."),
        new("seed", ParameterType.Int, Default: 42, Description: "Seed for every random choice of the trainer."),
        new("backend", ParameterType.String, Default: LocalTrainingBackend.BackendName, Description: "local or sagemaker."),
        new("sagemaker", ParameterType.Object, Description: "SageMaker options: roleArn, image, instanceType, instanceCount, volumeSizeGb, maxRuntime, maxWait, pollInterval, inputUri, outputPath."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        TrainingTask? task = null;
        if (values.TryGetValue("task", out var taskValue))
        {
            task = ParseTask(taskValue!.GetValue<string>());
            if (task is null)
            {
                errors.Add(new StepParameterError("task", $"Unknown task '{taskValue}' (known: {string.Join(", ", Tasks)})."));
            }
        }

        if (values.TryGetValue("features", out var features))
        {
            var list = features!.AsArray();
            if (list.Count == 0)
            {
                errors.Add(new StepParameterError("features", "Name at least one feature column, or leave 'features' out to use every column but the label."));
            }

            for (var i = 0; i < list.Count; i++)
            {
                if (list[i] is not JsonValue v || !v.TryGetValue<string>(out var name) || string.IsNullOrWhiteSpace(name))
                {
                    errors.Add(new StepParameterError($"features[{i}]", "A feature is a column name (a non-empty string)."));
                }
            }

            if (values.TryGetValue("label", out var label) && list.Any(f => f is JsonValue v && v.TryGetValue<string>(out var n) && n == label!.GetValue<string>()))
            {
                errors.Add(new StepParameterError("features", "The label column cannot also be a feature."));
            }
        }

        if (values.TryGetValue("seed", out var seed) && ParameterTypes.TryGetNumber(seed, out var s) && (s < 0 || s > int.MaxValue))
        {
            errors.Add(new StepParameterError("seed", $"The seed must be between 0 and {int.MaxValue}."));
        }

        var backendName = parameters.ContainsKey("backend")
            ? values.TryGetValue("backend", out var b) ? b!.GetValue<string>() : null
            : LocalTrainingBackend.BackendName;
        if (backendName is null)
        {
            return;
        }

        if (!_backends.TryGetValue(backendName, out var backend))
        {
            errors.Add(new StepParameterError("backend", $"Unknown backend '{backendName}' (known: {string.Join(", ", _backends.Keys.Order())})."));
            return;
        }

        var trainer = parameters.ContainsKey("trainer")
            ? values.TryGetValue("trainer", out var t) ? t!.GetValue<string>() : null
            : TrainerCatalog.Sdca;
        var backendErrors = new List<StepParameterError>();
        backend.Validate(
            task,
            trainer,
            values.TryGetValue("hyperparameters", out var h) ? h!.AsObject() : null,
            values.TryGetValue("sagemaker", out var o) ? o!.AsObject() : null,
            backendErrors);

        // A templated (or mistyped, already reported) options object is checked when the run resolves it.
        var optionsUnknown = parameters.ContainsKey("sagemaker") && !values.ContainsKey("sagemaker");
        errors.AddRange(backendErrors.Where(e => !(optionsUnknown && (e.Path == "sagemaker" || e.Path.StartsWith("sagemaker.", StringComparison.Ordinal)))));
    }

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var parameters = context.Parameters;

        // Templates are resolved now: check the values the run produced the way submit checks literals.
        var errors = Validate(parameters);
        if (errors.Count > 0)
        {
            throw new StepFailedException("Invalid parameters: " + string.Join(" ", errors.Select(e => $"{e.Path}: {e.Message}")), retryable: false);
        }

        await SourceKeys.CheckStepReadableAsync(scopes, context, "data", parameters["data"]!.GetValue<string>(), cancellationToken);
        var backend = _backends[parameters["backend"]!.GetValue<string>()];
        var task = ParseTask(parameters["task"]!.GetValue<string>())!.Value;
        var trainer = parameters["trainer"]!.GetValue<string>();
        var job = new TrainingJob
        {
            RunId = context.RunId,
            ProjectId = context.ProjectId,
            StepId = context.StepId,
            Attempt = context.Attempt,
            DataKey = parameters["data"]!.GetValue<string>(),
            Label = parameters["label"]!.GetValue<string>(),
            Task = task,
            Trainer = trainer,
            Features = parameters["features"]?.AsArray().Select(f => f!.GetValue<string>()).ToList(),
            Hyperparameters = parameters["hyperparameters"]?.AsObject() ?? [],
            Seed = ParameterTypes.TryGetNumber(parameters["seed"], out var seed) ? (int)seed : 42,
            Options = parameters["sagemaker"]?.AsObject(),
            Store = context.Artifacts,
            Log = context.Log,
            Clock = context.Clock,
            State = context.State,
        };

        var progress = await backend.TrainAsync(job, cancellationToken);
        if (progress is TrainingProgress.Pending pending)
        {
            return StepResult.Suspend(pending.ResumeAt, pending.State);
        }

        var completed = (TrainingProgress.Completed)progress;
        var outputs = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (name, value) in completed.Metrics)
        {
            outputs[name] = value;
        }

        foreach (var (name, value) in completed.Details)
        {
            outputs[name] = value?.DeepClone();
        }

        outputs["metrics"] = new JsonObject(completed.Metrics.Select(m => KeyValuePair.Create(m.Key, (JsonNode?)m.Value)));
        outputs["modelKey"] = completed.ModelKey;
        outputs["modelUri"] = context.Artifacts.UriOf(completed.ModelKey).ToString();
        outputs["trainer"] = trainer;
        outputs["task"] = LocalTrainingBackend.TaskName(task);
        outputs["backend"] = backend.Name;
        return StepResult.Succeeded(outputs);
    }

    internal static TrainingTask? ParseTask(string text) => text switch
    {
        "binary" => TrainingTask.Binary,
        "multiclass" => TrainingTask.Multiclass,
        "regression" => TrainingTask.Regression,
        _ => null,
    };
}
