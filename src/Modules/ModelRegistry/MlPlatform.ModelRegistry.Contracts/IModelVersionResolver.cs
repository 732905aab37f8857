namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>
/// A model version as another module needs it to load and serve it. <see cref="ArchivedAt"/>: set
/// when the version was archived (readable, but not to be deployed).
/// </summary>
public sealed record ResolvedModelVersion(
    Guid ProjectId,
    Guid ModelId,
    string Model,
    int Version,
    string Status,
    string ArtifactKey,
    string ArtifactUri,
    string Sha256,
    long SizeBytes,
    string SignatureJson,
    DateTimeOffset? ArchivedAt = null);

/// <summary>
/// Finds a model version by number or alias, for the modules that deploy models (Predictions) and
/// the workflow steps. Authorization is the caller's job: this contract trusts its caller.
/// </summary>
public interface IModelVersionResolver
{
    /// <summary>
    /// <paramref name="versionOrAlias"/> is a version number ("3") or an alias ("champion");
    /// null when the model, version or alias does not exist.
    /// </summary>
    Task<ResolvedModelVersion?> ResolveAsync(Guid projectId, string model, string versionOrAlias, CancellationToken cancellationToken = default);
}
