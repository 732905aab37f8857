using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.Predictions.Persistence;
using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.Predictions.Runtime;

/// <summary>
/// An endpoint was created, changed or deleted; stored in the module's outbox by the same commit
/// (see <c>PredictionsDbContext</c>). Module-internal: its readers are the hosts' routers.
/// </summary>
public sealed record EndpointChanged(Guid EventId, DateTimeOffset OccurredAt, Guid EndpointId, string Name, long Revision, bool Deleted) : IIntegrationEvent;

/// <summary>
/// Brings every host's routing tables in step with a change made on any host within
/// <see cref="PredictionsSettings.ChangePollInterval"/>. The outbox dispatcher delivers an event to one
/// host only (competing consumers), so each host reads the module's outbox table itself: the
/// <see cref="EndpointChanged"/> rows of the last <see cref="Lookback"/> (delivered or not), each
/// acted on once per host by reloading that endpoint (a no-op when this host already serves that
/// revision). A row committed more than <see cref="Lookback"/> after its time is missed here; the
/// revision poll (<see cref="PredictionsSettings.RefreshInterval"/>) still catches it.
/// </summary>
public sealed partial class EndpointChangeFollower(
    IServiceScopeFactory scopes,
    EndpointRouter router,
    PredictionsSettings settings,
    TimeProvider clock,
    ILogger<EndpointChangeFollower> logger) : OutboxFollower<PredictionsDbContext>(scopes, clock, [typeof(EndpointChanged)])
{
    private volatile bool _reachable = true;

    /// <summary>False while the last read of the module's database failed (V2 server readiness).</summary>
    public bool DatabaseReachable => _reachable;

    protected override TimeSpan Interval => settings.ChangePollInterval;

    protected override void OnSucceeded() => _reachable = true;

    protected override void OnFailed(Exception exception)
    {
        _reachable = false;
        // The database is away for a moment: the tables keep serving, the next tick tries again.
        LogFollowFailed(logger, exception);
    }

    /// <summary>Reloads the endpoints the rows name. Returns how many endpoints it looked at.</summary>
    protected override async Task<int> OnRowsAsync(IReadOnlyList<(Guid Id, DateTimeOffset OccurredAt, string Payload)> rows, CancellationToken cancellationToken)
    {
        var names = rows
            .Select(r => OutboxWindow.Field(r.Payload, "name", v => v.ValueKind == JsonValueKind.String ? v.GetString() : null))
            .OfType<string>().ToHashSet(StringComparer.Ordinal);
        foreach (var name in names)
        {
            try
            {
                await router.ChangedAsync(name, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The previous table keeps serving; the revision poll tries again.
                LogReloadFailed(logger, name, ex);
            }
        }

        return names.Count;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the predictions outbox for endpoint changes failed; the revision poll still refreshes the tables")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reloading endpoint {Endpoint} after a change on another host failed; the previous table keeps serving")]
    private static partial void LogReloadFailed(ILogger logger, string endpoint, Exception exception);
}
