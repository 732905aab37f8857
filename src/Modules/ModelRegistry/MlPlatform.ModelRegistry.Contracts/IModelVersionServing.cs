namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>An endpoint variant that serves (or shadows) a model version.</summary>
public sealed record ServingEndpointRef(Guid EndpointId, string Endpoint, string Variant, bool Shadow);

/// <summary>
/// Which endpoints serve a model version. Implemented by the module that serves models (Predictions);
/// the registry asks it before archiving a version (409 while served) and for downstream lineage.
/// When no module registers an implementation, nothing is served.
/// </summary>
public interface IModelVersionServing
{
    Task<IReadOnlyList<ServingEndpointRef>> FindServingAsync(Guid projectId, Guid modelId, int version, CancellationToken cancellationToken = default);
}
