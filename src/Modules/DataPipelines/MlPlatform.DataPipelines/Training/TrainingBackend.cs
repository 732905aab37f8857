using System.Text.Json.Nodes;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training;

public enum TrainingTask
{
    Binary,
    Multiclass,
    Regression,
}

/// <summary>One <c>model.train</c> step attempt as a backend sees it: what to train and where to put it.</summary>
public sealed record TrainingJob
{
    public required Guid RunId { get; init; }

    public required Guid ProjectId { get; init; }

    public required string StepId { get; init; }

    public required int Attempt { get; init; }

    /// <summary>Object key of the training data (CSV with a header row, or JSON lines).</summary>
    public required string DataKey { get; init; }

    public required string Label { get; init; }

    public required TrainingTask Task { get; init; }

    public required string Trainer { get; init; }

    /// <summary>Null: every column but the label.</summary>
    public IReadOnlyList<string>? Features { get; init; }

    public required JsonObject Hyperparameters { get; init; }

    public required int Seed { get; init; }

    /// <summary>The backend's own options (the step's <c>sagemaker</c> object); null when absent.</summary>
    public JsonObject? Options { get; init; }

    public required IObjectStore Store { get; init; }

    public required IStepLogger Log { get; init; }

    public required TimeProvider Clock { get; init; }

    /// <summary>What the backend returned in <see cref="TrainingProgress.Pending"/> last time; null on first entry.</summary>
    public JsonNode? State { get; init; }

    /// <summary>Where a run's files for this step go: <c>runs/{runId}/{stepId}/</c>.</summary>
    public string KeyPrefix => $"runs/{RunId}/{StepId}/";

    /// <summary>The conventional key of the trained ONNX model.</summary>
    public string ModelKey => KeyPrefix + "model.onnx";
}

/// <summary>Where a training job stands after one call to its backend.</summary>
public abstract record TrainingProgress
{
    private TrainingProgress()
    {
    }

    /// <param name="ModelKey">Object key of the model in the artifact store.</param>
    /// <param name="Metrics">Finite metric values by their output name (accuracy, auc, rmse, ...).</param>
    /// <param name="Details">Extra flat outputs (rows, features, the remote job's name, ...).</param>
    public sealed record Completed(string ModelKey, IReadOnlyDictionary<string, double> Metrics, IReadOnlyDictionary<string, JsonNode?> Details) : TrainingProgress;

    /// <summary>Not done yet: call again at <paramref name="ResumeAt"/> with <paramref name="State"/>.</summary>
    public sealed record Pending(DateTimeOffset ResumeAt, JsonNode State) : TrainingProgress;
}

/// <summary>
/// A place where models get trained: in this process (<c>local</c>, ML.NET) or elsewhere
/// (<c>sagemaker</c>). Chosen per step by its <c>backend</c> parameter. Backends are singletons.
/// A long job returns <see cref="TrainingProgress.Pending"/> instead of holding a thread, and keeps
/// everything it needs to continue in the state, so a host restart loses nothing.
/// </summary>
public interface ITrainingBackend
{
    string Name { get; }

    /// <summary>Checks the backend-specific parts of the step's params at submit (literal values only).</summary>
    void Validate(TrainingTask? task, string? trainer, JsonObject? hyperparameters, JsonObject? options, List<StepParameterError> errors);

    /// <summary>Starts or continues the job; throws <see cref="StepFailedException"/> for a failed job.</summary>
    Task<TrainingProgress> TrainAsync(TrainingJob job, CancellationToken cancellationToken);
}
