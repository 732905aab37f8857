namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>
/// The registry's half of "an archived version is never served". A module that has just committed
/// a deployment of a version (Predictions) calls <see cref="ClaimAsync"/> AFTER its own commit and
/// takes the deployment back when the answer is false. The claim writes the version's row under the
/// same optimistic lock that archiving writes, so of a claim and an archive that race, either the
/// claim sees the archive (false), or the archive's save fails and, judging again, sees the
/// deployment already committed (409). Trusts its caller like <see cref="IModelVersionResolver"/>.
/// </summary>
public interface IModelVersionServingClaim
{
    /// <summary>
    /// True when the version exists in the project and is not archived (its row version is
    /// advanced); false when it is archived or gone.
    /// </summary>
    Task<bool> ClaimAsync(Guid projectId, Guid modelId, int version, CancellationToken cancellationToken = default);
}
