using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Hosting;
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
    ILogger<RegistryOutboxFollower> logger) : PeriodicWork(clock)
{
    /// <summary>How far back each read looks: room for commit delays and clock skew between hosts.</summary>
    public static readonly TimeSpan Lookback = TimeSpan.FromSeconds(10);

    private readonly OutboxWindow _window = new(
    [
        IntegrationEventTypes.NameOf(typeof(AliasMoved)),
        IntegrationEventTypes.NameOf(typeof(ModelVersionApproved)),
        IntegrationEventTypes.NameOf(typeof(ModelVersionRejected)),
        IntegrationEventTypes.NameOf(typeof(VersionLookupChanged)),
    ], Lookback);

    protected override TimeSpan Interval => cache.Enabled ? settings.InvalidationPollInterval : TimeSpan.Zero;

    protected override bool RunAtStart => true;

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => FollowAsync(cancellationToken);

    // The database is away for a moment: the TTL bounds staleness until the next read works.
    protected override void OnFailed(Exception exception) => LogFollowFailed(logger, exception);

    /// <summary>One read of the outbox; forgets the models of events not seen before. Returns how many models were forgotten.</summary>
    public async Task<int> FollowAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var rows = await _window.ReadNewAsync(scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>(), Clock.GetUtcNow(), cancellationToken);
        var forgotten = 0;
        foreach (var row in rows)
        {
            if (OutboxWindow.Field(row.Payload, "modelId", v => v.TryGetGuid(out var id) ? id : (Guid?)null) is { } modelId)
            {
                cache.Invalidate(modelId);
                forgotten++;
            }
        }

        return forgotten;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the model registry's outbox to forget cached version reads failed; cached entries expire after their TTL meanwhile")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception);
}
