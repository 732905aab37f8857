using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.SharedKernel.Messaging;

/// <summary>
/// A subscriber whose effects and its inbox mark commit in one transaction of its own module's
/// database, so a redelivered event is recognised and changes nothing.
/// </summary>
public abstract class IdempotentEventHandler<TEvent, TDbContext>(TDbContext db, TimeProvider clock)
    : IIntegrationEventHandler<TEvent>
    where TEvent : IIntegrationEvent
    where TDbContext : ModuleDbContext
{
    protected TDbContext Db { get; } = db;

    public async Task Handle(TEvent integrationEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(integrationEvent);
        var handler = GetType().FullName!;
        var seen = await Db.InboxMessages.AnyAsync(
            m => m.EventId == integrationEvent.EventId && m.Handler == handler, cancellationToken);
        if (seen)
        {
            return;
        }

        await Apply(integrationEvent, cancellationToken);
        Db.InboxMessages.Add(new InboxMessage
        {
            EventId = integrationEvent.EventId,
            Handler = handler,
            ProcessedAt = clock.GetUtcNow(),
        });
        await Db.SaveChangesAsync(cancellationToken);
    }

    /// <summary>Make the changes on <see cref="Db"/> without saving; the base saves them with the inbox mark.</summary>
    protected abstract Task Apply(TEvent integrationEvent, CancellationToken cancellationToken);
}
