using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.SharedKernel.Messaging;

/// <summary>
/// Lets every host of a cluster see a module's own events, which the outbox dispatcher delivers to
/// one host only (competing consumers): each read returns the rows of the given types that occurred
/// in the last <see cref="Lookback"/> (delivered or not; the table keeps them) and that this reader
/// has not returned before. A row committed more than <see cref="Lookback"/> after its
/// <c>OccurredAt</c> (a very slow commit, or a writer's clock that far behind) is missed; callers
/// keep a slower safety net for that. Not thread-safe: one per follower loop.
/// </summary>
public sealed class OutboxWindow(IReadOnlyCollection<string> types, TimeSpan lookback)
{
    private readonly string[] _types = [.. types];

    /// <summary>Rows returned, kept while they are inside the window.</summary>
    private readonly Dictionary<Guid, DateTimeOffset> _seen = [];

    public TimeSpan Lookback { get; } = lookback;

    public async Task<List<(Guid Id, DateTimeOffset OccurredAt, string Payload)>> ReadNewAsync(ModuleDbContext db, DateTimeOffset now, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        var from = now - Lookback;
        var rows = await db.OutboxMessages.AsNoTracking()
            .Where(m => m.OccurredAt >= from && _types.Contains(m.Type))
            .OrderBy(m => m.OccurredAt)
            .Select(m => new { m.Id, m.OccurredAt, m.Payload })
            .ToListAsync(cancellationToken);
        var fresh = rows.Where(r => _seen.TryAdd(r.Id, r.OccurredAt)).Select(r => (r.Id, r.OccurredAt, r.Payload)).ToList();
        foreach (var id in _seen.Where(s => s.Value < from).Select(s => s.Key).ToList())
        {
            _seen.Remove(id);
        }

        return fresh;
    }

    /// <summary>A top-level property of an event's JSON payload, or default when it is missing or the payload is not JSON.</summary>
    public static T? Field<T>(string payload, string name, Func<JsonElement, T?> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        try
        {
            using var document = JsonDocument.Parse(payload);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty(name, out var value) ? read(value) : default;
        }
        catch (JsonException)
        {
            return default;
        }
    }
}
