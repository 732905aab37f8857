using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Endpoints;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.Predictions.Following;

/// <summary>
/// Variants that follow an alias move with it. A delivery whose revision is not newer than the one a
/// variant applied is stale (redelivered or overtaken) and changes nothing. A deleted alias leaves the
/// variant on its last version; a production endpoint does not follow to an unapproved version.
/// </summary>
public sealed partial class FollowAliasHandler(
    PredictionsDbContext db,
    IModelVersionResolver resolver,
    EndpointWriter writer,
    TimeProvider time,
    ILogger<FollowAliasHandler> logger) : IdempotentEventHandler<AliasMoved, PredictionsDbContext>(db, time)
{
    protected override async Task Apply(AliasMoved e, CancellationToken cancellationToken)
    {
        var variants = await Db.Variants.Where(v => v.ModelId == e.ModelId && v.Alias == e.Alias && v.AliasRevision < e.Revision).ToListAsync(cancellationToken);
        if (variants.Count == 0)
        {
            return;
        }

        var resolved = e.ToVersion is { } to
            ? await resolver.ResolveAsync(e.ProjectId, e.Model, to.ToString(System.Globalization.CultureInfo.InvariantCulture), cancellationToken)
            : null;
        foreach (var variant in variants)
        {
            variant.AliasRevision = e.Revision;
            if (resolved is null || variant.Version == resolved.Version)
            {
                continue;
            }

            var endpoint = await Db.Endpoints.SingleAsync(x => x.Id == variant.EndpointId, cancellationToken);
            try
            {
                writer.CheckServable(endpoint, resolved, variant.Name);
            }
            catch (ConflictException ex)
            {
                LogNotFollowed(logger, endpoint.Name, variant.Name, ex.Message);
                continue;
            }

            variant.Version = resolved.Version;
            variant.VersionStatus = resolved.Status;
            variant.ArtifactKey = resolved.ArtifactKey;
            variant.Sha256 = resolved.Sha256;
            variant.SizeBytes = resolved.SizeBytes;
            endpoint.Revision++;
            endpoint.UpdatedAt = e.OccurredAt;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Endpoint {Endpoint} variant {Variant} does not follow the alias: {Reason}")]
    private static partial void LogNotFollowed(ILogger logger, string endpoint, string variant, string reason);
}

/// <summary>
/// Runs after <see cref="FollowAliasHandler"/> committed: rebuilds the affected tables on this host at
/// once (other hosts see the new revision at their next refresh). The new model is loaded and warmed
/// before the swap, and the old session is freed when its last in-flight request is done.
/// </summary>
public sealed class ReloadFollowersHandler(PredictionsDbContext db, EndpointRouter router) : IIntegrationEventHandler<AliasMoved>
{
    public async Task Handle(AliasMoved integrationEvent, CancellationToken cancellationToken)
    {
        var names = await db.Variants.AsNoTracking()
            .Where(v => v.ModelId == integrationEvent.ModelId && v.Alias == integrationEvent.Alias)
            .Join(db.Endpoints.AsNoTracking(), v => v.EndpointId, e => e.Id, (v, e) => e.Name)
            .Distinct()
            .ToListAsync(cancellationToken);
        foreach (var name in names.Where(n => router.Tables.Any(t => t.Name == n)))
        {
            await router.ReloadAsync(name, cancellationToken);
        }
    }
}

/// <summary>Which endpoints serve a version, for the registry (archiving a served version is refused) and lineage.</summary>
internal sealed class ModelVersionServing(PredictionsDbContext db) : IModelVersionServing
{
    public async Task<IReadOnlyList<ServingEndpointRef>> FindServingAsync(Guid projectId, Guid modelId, int version, CancellationToken cancellationToken = default) =>
        await db.Variants.AsNoTracking()
            .Where(v => v.ModelId == modelId && v.Version == version)
            .Join(db.Endpoints.AsNoTracking().Where(e => e.ProjectId == projectId), v => v.EndpointId, e => e.Id, (v, e) => new ServingEndpointRef(e.Id, e.Name, v.Name, v.Shadow))
            .ToListAsync(cancellationToken);
}
