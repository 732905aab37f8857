namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>
/// Records evaluation metrics on an existing model version (for example from a <c>model.evaluate</c>
/// step). Metrics merge into the version's metrics, newer values win. Trusts its caller like
/// <see cref="IModelVersionResolver"/>: authorization is the caller's job.
/// </summary>
public interface IModelVersionMetrics
{
    /// <summary>False when the model or version does not exist in the project.</summary>
    Task<bool> RecordAsync(
        Guid projectId,
        string model,
        int version,
        IReadOnlyDictionary<string, double> metrics,
        string source,
        CancellationToken cancellationToken = default);
}
