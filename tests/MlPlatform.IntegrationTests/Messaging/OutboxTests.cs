using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.IntegrationTests.Messaging;

/// <summary>
/// Integration events go through the publisher's outbox (Workflows here) to a subscriber in
/// another module (Monitoring), at least once and idempotently, on both databases.
/// </summary>
public sealed class OutboxTests
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<(string DataDirectory, PostgresDatabase? Postgres)> Storage(DatabaseProvider provider)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-outbox-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dataDirectory);
        return (dataDirectory, provider == DatabaseProvider.PostgreSql ? await PostgresDatabase.CreateAsync() : null);
    }

    private static ProbeEvent NewEvent(bool failFirst = false) =>
        new(Guid.NewGuid(), DateTimeOffset.UtcNow, "payload-" + Guid.NewGuid().ToString("N")[..6], failFirst);

    private static async Task Publish(IServiceProvider services, ProbeEvent probe)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
        db.AddIntegrationEvent(probe, TimeProvider.System);
        await db.SaveChangesAsync();
    }

    private static async Task WaitUntil(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"Timed out waiting for {what}.");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_event_committed_in_publisher_outbox_Then_subscriber_in_other_module_receives_it_and_records_it_in_its_inbox(DatabaseProvider provider)
    {
        var (dataDirectory, postgres) = await Storage(provider);
        await using var _ = postgres;
        var log = new ProbeLog();
        await using var host = await InProcessHost.StartAsync(provider, dataDirectory, postgres?.ConnectionString, [new ProbeModule(log)]);
        var probe = NewEvent();

        await Publish(host.Services, probe);

        await WaitUntil(() => Task.FromResult(log.Applied.ContainsKey(probe.EventId)), TimeSpan.FromSeconds(15), "delivery");
        await using var scope = host.Services.CreateAsyncScope();
        var inbox = scope.ServiceProvider.GetRequiredService<MonitoringDbContext>().InboxMessages;
        (await inbox.CountAsync(m => m.EventId == probe.EventId)).ShouldBe(1);
        await WaitUntil(
            async () => await scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>().OutboxMessages
                .AnyAsync(m => m.Id == probe.EventId && m.ProcessedAt != null),
            TimeSpan.FromSeconds(10),
            "the outbox row to be marked processed");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_event_delivered_twice_Then_subscriber_applies_it_once(DatabaseProvider provider)
    {
        var (dataDirectory, postgres) = await Storage(provider);
        await using var _ = postgres;
        var log = new ProbeLog();
        await using var host = await InProcessHost.StartAsync(provider, dataDirectory, postgres?.ConnectionString, [new ProbeModule(log)]);
        var probe = NewEvent();
        await Publish(host.Services, probe);
        await WaitUntil(() => Task.FromResult(log.Attempts.GetValueOrDefault(probe.EventId) == 1), TimeSpan.FromSeconds(15), "first delivery");

        // At least once means it may come again (a host died before marking it): make it so.
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var outbox = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>().OutboxMessages;
            await WaitUntil(async () => await outbox.AnyAsync(m => m.Id == probe.EventId && m.ProcessedAt != null), TimeSpan.FromSeconds(10), "processed");
            await outbox.Where(m => m.Id == probe.EventId).ExecuteUpdateAsync(s => s.SetProperty(m => m.ProcessedAt, (DateTimeOffset?)null));
            await WaitUntil(async () => await outbox.AnyAsync(m => m.Id == probe.EventId && m.ProcessedAt != null), TimeSpan.FromSeconds(10), "second delivery");
        }

        log.Applied[probe.EventId].ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_subscriber_failing_once_Then_delivery_is_retried_until_it_succeeds(DatabaseProvider provider)
    {
        var (dataDirectory, postgres) = await Storage(provider);
        await using var _ = postgres;
        var log = new ProbeLog();
        await using var host = await InProcessHost.StartAsync(provider, dataDirectory, postgres?.ConnectionString, [new ProbeModule(log)]);
        var probe = NewEvent(failFirst: true);

        await Publish(host.Services, probe);

        await WaitUntil(() => Task.FromResult(log.Applied.ContainsKey(probe.EventId)), TimeSpan.FromSeconds(20), "retried delivery");
        log.Attempts[probe.EventId].ShouldBe(2);
        log.Applied[probe.EventId].ShouldBe(1);
        await using var scope = host.Services.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>().OutboxMessages.SingleAsync(m => m.Id == probe.EventId);
        row.Attempts.ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_host_that_died_right_after_the_commit_Then_the_next_host_delivers_the_event(DatabaseProvider provider)
    {
        var (dataDirectory, postgres) = await Storage(provider);
        await using var _ = postgres;
        var settings = new DatabaseSettings(provider, postgres?.ConnectionString, dataDirectory);

        // First host: creates the databases, then is gone.
        await (await InProcessHost.StartAsync(provider, dataDirectory, postgres?.ConnectionString, [new ProbeModule(new ProbeLog())])).DisposeAsync();

        // The business change and its event commit together while no host runs to deliver it.
        var probe = NewEvent();
        await using (var db = new WorkflowsDbContext(PersistenceRegistration.CreateOptions<WorkflowsDbContext>(settings, WorkflowsDbContext.SchemaName)))
        {
            db.AddIntegrationEvent(probe, TimeProvider.System);
            await db.SaveChangesAsync();
        }

        var log = new ProbeLog();
        await using var next = await InProcessHost.StartAsync(provider, dataDirectory, postgres?.ConnectionString, [new ProbeModule(log)]);

        await WaitUntil(() => Task.FromResult(log.Applied.ContainsKey(probe.EventId)), TimeSpan.FromSeconds(15), "delivery by the next host");
        log.Applied[probe.EventId].ShouldBe(1);
    }
}
