using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.SharedKernel.Messaging;

public sealed class OutboxOptions
{
    public const string Section = "Messaging:Outbox";

    /// <summary>How often each module's outbox is read when no commit has signalled it.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a host owns a batch before another host may take it over.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    public int BatchSize { get; set; } = 100;

    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Delivered messages are deleted after this long.</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(7);
}

/// <summary>
/// Wakes the dispatcher as soon as a commit has written to an outbox: after the save when it
/// committed on its own, after the transaction's commit otherwise (woken before it, the dispatcher
/// would find nothing yet and sleep a whole poll interval). Saves that wrote no event wake nobody:
/// each one used to make the dispatcher read every module's outbox.
/// </summary>
public sealed class OutboxSignal : SaveChangesInterceptor, IDbTransactionInterceptor
{
    private readonly SemaphoreSlim _signal = new(0, 1);

    public override ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        Saved(eventData.Context);
        return base.SavedChangesAsync(eventData, result, cancellationToken);
    }

    public override int SavedChanges(SaveChangesCompletedEventData eventData, int result)
    {
        Saved(eventData.Context);
        return base.SavedChanges(eventData, result);
    }

    public void TransactionCommitted(DbTransaction transaction, TransactionEndEventData eventData) => Committed(eventData.Context);

    public Task TransactionCommittedAsync(DbTransaction transaction, TransactionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        Committed(eventData.Context);
        return Task.CompletedTask;
    }

    private void Saved(DbContext? context)
    {
        if (context is ModuleDbContext { OutboxWritten: true } module && module.Database.CurrentTransaction is null)
        {
            module.OutboxWritten = false;
            Notify();
        }
    }

    private void Committed(DbContext? context)
    {
        if (context is ModuleDbContext { OutboxWritten: true } module)
        {
            module.OutboxWritten = false;
            Notify();
        }
    }

    private void Notify()
    {
        if (_signal.CurrentCount == 0)
        {
            try
            {
                _signal.Release();
            }
            catch (SemaphoreFullException)
            {
                // Already signalled.
            }
        }
    }

    internal Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        _signal.WaitAsync(timeout, cancellationToken);
}

/// <summary>
/// Delivers every enabled module's outbox to the subscribers in this host. Batches are leased so
/// that several hosts on one database share the work; a host that dies loses its lease, not the events.
/// </summary>
public sealed partial class OutboxDispatcher(
    IServiceScopeFactory scopes,
    IEnumerable<IModule> modules,
    IntegrationEventTypes eventTypes,
    OutboxSignal signal,
    IOptions<OutboxOptions> options,
    TimeProvider clock,
    ILogger<OutboxDispatcher> logger) : BackgroundService
{
    public const string TelemetryName = "MlPlatform.Messaging";
    private static readonly ActivitySource Activities = new(TelemetryName);
    private static readonly Meter Meter = new(TelemetryName);
    private static readonly Counter<long> Delivered = Meter.CreateCounter<long>("mlplatform.outbox.delivered", description: "Integration events delivered to their subscribers");
    private static readonly Counter<long> Failed = Meter.CreateCounter<long>("mlplatform.outbox.failed", description: "Integration event deliveries that failed and will be retried");

    private static readonly ConcurrentDictionary<Type, Func<IServiceProvider, IIntegrationEvent, CancellationToken, Task>> Deliverers = new();
    private readonly string _hostId = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";
    private readonly ConcurrentDictionary<string, DateTimeOffset> _nextCleanup = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var opts = options.Value;
        while (!stoppingToken.IsCancellationRequested)
        {
            var more = false;
            foreach (var module in modules)
            {
                try
                {
                    more |= await DispatchBatch(module, opts, stoppingToken);
                }
                catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    LogDispatchFailed(logger, module.Name, ex);
                }
            }

            if (!more)
            {
                try
                {
                    await signal.WaitAsync(opts.PollInterval, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    /// <summary>Delivers one batch of one module's outbox; true when more may be waiting.</summary>
    public async Task<bool> DispatchBatch(IModule module, OutboxOptions opts, CancellationToken cancellationToken)
    {
        if (module.DbContextType is not { } contextType)
        {
            return false; // A module without a database has no outbox.
        }

        await using var scope = scopes.CreateAsyncScope();
        var db = (ModuleDbContext)scope.ServiceProvider.GetRequiredService(contextType);
        var now = clock.GetUtcNow();
        await CleanupIfDue(module.Name, db, opts, now, cancellationToken);

        var candidates = await db.OutboxMessages
            .Where(m => m.ProcessedAt == null && m.NextAttemptAt <= now && (m.LeaseUntil == null || m.LeaseUntil < now))
            .OrderBy(m => m.OccurredAt)
            .Select(m => m.Id)
            .Take(opts.BatchSize)
            .ToListAsync(cancellationToken);
        if (candidates.Count == 0)
        {
            return false;
        }

        // The lease condition is repeated in the UPDATE so that two hosts never both claim a row.
        var claim = $"{_hostId}:{Guid.NewGuid():N}";
        var leaseUntil = now + opts.LeaseDuration;
        await db.OutboxMessages
            .Where(m => candidates.Contains(m.Id) && m.ProcessedAt == null && (m.LeaseUntil == null || m.LeaseUntil < now))
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.LeaseOwner, claim).SetProperty(m => m.LeaseUntil, leaseUntil), cancellationToken);

        var batch = await db.OutboxMessages
            .Where(m => m.LeaseOwner == claim)
            .OrderBy(m => m.OccurredAt)
            .ToListAsync(cancellationToken);

        foreach (var message in batch)
        {
            try
            {
                await Deliver(message, cancellationToken);
                message.ProcessedAt = clock.GetUtcNow();
                message.LastError = null;
                Delivered.Add(1, new KeyValuePair<string, object?>("module", module.Name));
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                message.Attempts++;
                message.LastError = Truncate(ex.GetType().Name + ": " + ex.Message, 2000);
                message.NextAttemptAt = clock.GetUtcNow() + Backoff(message.Attempts, opts.MaxRetryDelay);
                Failed.Add(1, new KeyValuePair<string, object?>("module", module.Name));
                LogDeliveryFailed(logger, message.Type, message.Id, message.Attempts, ex);
            }

            message.LeaseOwner = null;
            message.LeaseUntil = null;
        }

        await db.SaveChangesAsync(CancellationToken.None);
        return batch.Count == opts.BatchSize;
    }

    private async Task Deliver(OutboxMessage message, CancellationToken cancellationToken)
    {
        var type = eventTypes.Find(message.Type)
            ?? throw new InvalidOperationException($"Unknown integration event type '{message.Type}'.");
        var integrationEvent = (IIntegrationEvent?)JsonSerializer.Deserialize(message.Payload, type, IntegrationEvents.SerializerOptions)
            ?? throw new InvalidOperationException($"Empty payload for '{message.Type}'.");

        using var activity = Activities.StartActivity($"deliver {type.Name}");
        await using var scope = scopes.CreateAsyncScope();
        var deliver = Deliverers.GetOrAdd(type, CreateDeliverer);
        await deliver(scope.ServiceProvider, integrationEvent, cancellationToken);
    }

    private static Func<IServiceProvider, IIntegrationEvent, CancellationToken, Task> CreateDeliverer(Type eventType)
    {
        var method = typeof(OutboxDispatcher)
            .GetMethod(nameof(DeliverTyped), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(eventType);
        return method.CreateDelegate<Func<IServiceProvider, IIntegrationEvent, CancellationToken, Task>>();
    }

    private static async Task DeliverTyped<TEvent>(IServiceProvider services, IIntegrationEvent integrationEvent, CancellationToken cancellationToken)
        where TEvent : IIntegrationEvent
    {
        foreach (var handler in services.GetServices<IIntegrationEventHandler<TEvent>>())
        {
            await handler.Handle((TEvent)integrationEvent, cancellationToken);
        }
    }

    private async Task CleanupIfDue(string module, ModuleDbContext db, OutboxOptions opts, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (now < _nextCleanup.GetValueOrDefault(module, DateTimeOffset.MinValue))
        {
            return;
        }

        _nextCleanup[module] = now + TimeSpan.FromMinutes(10);
        var cutoff = now - opts.Retention;
        await db.OutboxMessages.Where(m => m.ProcessedAt != null && m.ProcessedAt < cutoff).ExecuteDeleteAsync(cancellationToken);
    }

    internal static TimeSpan Backoff(int attempts, TimeSpan max)
    {
        var seconds = Math.Min(Math.Pow(2, Math.Min(attempts, 20)), max.TotalSeconds);
        // Full jitter between half and the whole delay keeps retries of many hosts apart.
        return TimeSpan.FromSeconds(seconds * (0.5 + Random.Shared.NextDouble() * 0.5));
    }

    private static string Truncate(string value, int length) => value.Length <= length ? value : value[..length];

    [LoggerMessage(Level = LogLevel.Error, Message = "Outbox dispatch failed for module {Module}")]
    private static partial void LogDispatchFailed(ILogger logger, string module, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery of {EventType} {EventId} failed (attempt {Attempts}); it will be retried")]
    private static partial void LogDeliveryFailed(ILogger logger, string eventType, Guid eventId, int attempts, Exception exception);
}
