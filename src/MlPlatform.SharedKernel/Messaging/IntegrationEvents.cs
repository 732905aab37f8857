using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.SharedKernel.Messaging;

public static class IntegrationEvents
{
    internal static readonly JsonSerializerOptions SerializerOptions = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Stores the event in the module's outbox; it is committed by the same SaveChanges as the change
    /// that caused it and delivered after the commit, at least once.
    /// </summary>
    public static void AddIntegrationEvent<TEvent>(this ModuleDbContext db, TEvent integrationEvent, TimeProvider clock)
        where TEvent : IIntegrationEvent
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(integrationEvent);
        db.OutboxWritten = true;
        db.OutboxMessages.Add(new OutboxMessage
        {
            Id = integrationEvent.EventId,
            Type = IntegrationEventTypes.NameOf(typeof(TEvent)),
            Payload = JsonSerializer.Serialize(integrationEvent, SerializerOptions),
            OccurredAt = integrationEvent.OccurredAt,
            NextAttemptAt = clock.GetUtcNow(),
        });
    }
}

/// <summary>Maps stored type names back to event types, for every event in the loaded assemblies.</summary>
public sealed class IntegrationEventTypes
{
    private readonly FrozenDictionary<string, Type> _byName;

    public IntegrationEventTypes(IEnumerable<Assembly> assemblies)
    {
        _byName = assemblies
            .SelectMany(SafeTypes)
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IIntegrationEvent).IsAssignableFrom(t))
            .DistinctBy(NameOf)
            .ToFrozenDictionary(NameOf, t => t);
    }

    public static string NameOf(Type type) => type.FullName ?? type.Name;

    public Type? Find(string name) => _byName.GetValueOrDefault(name);

    public IReadOnlyCollection<Type> All => _byName.Values;

    private static IEnumerable<Type> SafeTypes(Assembly assembly)
    {
        try
        {
            return assembly.GetTypes();
        }
        catch (ReflectionTypeLoadException ex)
        {
            return ex.Types.OfType<Type>();
        }
    }
}
