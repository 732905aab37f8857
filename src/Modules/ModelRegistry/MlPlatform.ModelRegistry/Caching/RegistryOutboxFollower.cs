using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.ModelRegistry.Caching;

/// <summary>
/// Makes every host forget cached reads of a model soon after any host changed it. The outbox
/// dispatcher delivers each event to one host only (competing consumers), so each host also reads
/// the registry's outbox table itself every <see cref="ModelRegistrySettings.InvalidationPollInterval"/>:
/// the events of the last <see cref="Lookback"/> (delivered or not, the table keeps them) that change
/// what a version read answers. Each is acted on once per host. An event committed more than
/// <see cref="Lookback"/> after its <c>occurredAt</c> (a very slow commit, or a writer's clock that
/// far behind) is missed here; the entry's TTL still bounds it (ADR 9).
/// </summary>
public sealed partial class RegistryOutboxFollower(
    IServiceScopeFactory scopes,
    VersionLookupCache cache,
    ModelRegistrySettings settings,
    TimeProvider clock,
    ILogger<RegistryOutboxFollower> logger)
    : OutboxFollower<ModelRegistryDbContext>(scopes, clock, [typeof(AliasMoved), typeof(ModelVersionApproved), typeof(ModelVersionRejected), typeof(VersionLookupChanged)])
{
    protected override TimeSpan Interval => cache.Enabled ? settings.InvalidationPollInterval : TimeSpan.Zero;

    // The database is away for a moment: the TTL bounds staleness until the next read works.
    protected override void OnFailed(Exception exception) => LogFollowFailed(logger, exception);

    /// <summary>Forgets the models of the rows; returns how many were forgotten.</summary>
    protected override Task<int> OnRowsAsync(IReadOnlyList<(Guid Id, DateTimeOffset OccurredAt, string Payload)> rows, CancellationToken cancellationToken)
    {
        var forgotten = 0;
        foreach (var row in rows)
        {
            if (OutboxWindow.Field(row.Payload, "modelId", v => v.TryGetGuid(out var id) ? id : (Guid?)null) is { } modelId)
            {
                cache.Invalidate(modelId);
                forgotten++;
            }
        }

        return Task.FromResult(forgotten);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the model registry's outbox to forget cached version reads failed; cached entries expire after their TTL meanwhile")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception);
}
