namespace MlPlatform.SharedKernel.Messaging;

/// <summary>
/// An event one module publishes for others. Records live in the publisher's Contracts project.
/// </summary>
public interface IIntegrationEvent
{
    Guid EventId { get; }

    DateTimeOffset OccurredAt { get; }
}

/// <summary>
/// A subscriber. Delivery is at least once; <see cref="InboxMessage"/> rows make handlers that
/// write through their module's DbContext idempotent (see <see cref="IdempotentEventHandler{TEvent,TDbContext}"/>).
/// </summary>
public interface IIntegrationEventHandler<in TEvent>
    where TEvent : IIntegrationEvent
{
    Task Handle(TEvent integrationEvent, CancellationToken cancellationToken);
}
