namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>
/// A model version with the upstream lineage recorded when it was registered. Datasets are dataset
/// versions written <c>name@version</c>; <see cref="WorkflowRun"/> is the producing run's id as text.
/// </summary>
public sealed record ModelVersionLineageRef(
    Guid ModelId,
    string Model,
    int Version,
    string Status,
    string? WorkflowRun,
    string? Step,
    IReadOnlyList<string> Datasets);

/// <summary>
/// Lineage questions other modules ask the registry, for the end-to-end lineage API (file → dataset →
/// run → model version → endpoint). Trusts its caller: authorization is the caller's job.
/// </summary>
public interface IModelLineageQuery
{
    /// <summary>Null when the model or version does not exist in the project.</summary>
    Task<ModelVersionLineageRef?> GetAsync(Guid projectId, string model, int version, CancellationToken cancellationToken = default);

    /// <summary>Versions registered by the given workflow run.</summary>
    Task<IReadOnlyList<ModelVersionLineageRef>> FindByRunAsync(Guid projectId, string workflowRun, CancellationToken cancellationToken = default);

    /// <summary>Versions whose lineage names the dataset version (<c>name@version</c>).</summary>
    Task<IReadOnlyList<ModelVersionLineageRef>> FindByDatasetAsync(Guid projectId, string datasetVersion, CancellationToken cancellationToken = default);
}
