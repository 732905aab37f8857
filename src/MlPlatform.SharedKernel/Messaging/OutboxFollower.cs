using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Hosting;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.SharedKernel.Messaging;

/// <summary>
/// Lets every host act on its module's own events, which the outbox dispatcher hands to one host
/// only: every <see cref="PeriodicWork.Interval"/> (and once at start) it reads the rows of the given
/// event types from the last <see cref="Lookback"/> that this host has not seen yet
/// (<see cref="OutboxWindow"/>) and passes them to <see cref="OnRowsAsync"/>. A row committed more than
/// <see cref="Lookback"/> after it occurred is missed; each follower keeps a slower safety net for it.
/// </summary>
public abstract class OutboxFollower<TDbContext>(IServiceScopeFactory scopes, TimeProvider clock, IEnumerable<Type> eventTypes) : PeriodicWork(clock)
    where TDbContext : ModuleDbContext
{
    /// <summary>How far back each read looks: room for commit delays and clock skew between hosts.</summary>
    public static readonly TimeSpan Lookback = TimeSpan.FromSeconds(10);

    private readonly OutboxWindow _window = new([.. eventTypes.Select(IntegrationEventTypes.NameOf)], Lookback);

    protected override bool RunAtStart => true;

    protected override Task RunOnceAsync(CancellationToken cancellationToken) => FollowAsync(cancellationToken);

    /// <summary>One read of the outbox; returns what <see cref="OnRowsAsync"/> counted.</summary>
    public async Task<int> FollowAsync(CancellationToken cancellationToken)
    {
        List<(Guid Id, DateTimeOffset OccurredAt, string Payload)> rows;
        await using (var scope = scopes.CreateAsyncScope())
        {
            rows = await _window.ReadNewAsync(scope.ServiceProvider.GetRequiredService<TDbContext>(), Clock.GetUtcNow(), cancellationToken);
        }

        return rows.Count == 0 ? 0 : await OnRowsAsync(rows, cancellationToken);
    }

    /// <summary>Acts on rows not seen before (oldest first); returns how many things it acted on.</summary>
    protected abstract Task<int> OnRowsAsync(IReadOnlyList<(Guid Id, DateTimeOffset OccurredAt, string Payload)> rows, CancellationToken cancellationToken);
}
