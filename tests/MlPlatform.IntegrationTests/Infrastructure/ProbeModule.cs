using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>An event that a test publishes from one module's outbox.</summary>
public sealed record ProbeEvent(Guid EventId, DateTimeOffset OccurredAt, string Payload, bool FailFirst = false) : IIntegrationEvent;

/// <summary>What the subscriber applied, per event id (shared by the host and the test).</summary>
public sealed class ProbeLog
{
    public ConcurrentDictionary<Guid, int> Applied { get; } = new();

    public ConcurrentDictionary<Guid, int> Attempts { get; } = new();
}

/// <summary>
/// A subscriber in another module's database (Monitoring): idempotent through the inbox. It can
/// fail its first attempt to show that delivery is retried.
/// </summary>
public sealed class ProbeSubscriber(MonitoringDbContext db, TimeProvider clock, ProbeLog log)
    : IdempotentEventHandler<ProbeEvent, MonitoringDbContext>(db, clock)
{
    protected override Task Apply(ProbeEvent integrationEvent, CancellationToken cancellationToken)
    {
        var attempt = log.Attempts.AddOrUpdate(integrationEvent.EventId, 1, (_, n) => n + 1);
        if (integrationEvent.FailFirst && attempt == 1)
        {
            throw new InvalidOperationException("first attempt fails on purpose");
        }

        log.Applied.AddOrUpdate(integrationEvent.EventId, 1, (_, n) => n + 1);
        return Task.CompletedTask;
    }
}

public sealed record EchoRequest(string Name, int Count);

/// <summary>A module of the tests: a JSON endpoint for edge behaviour and the probe subscriber.</summary>
public sealed class ProbeModule(ProbeLog log) : IModule
{
    public string Name => "Probe";

    public string Schema => "probe";

    public Type? DbContextType => null;

    public void AddServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(log);
        services.AddScoped<IIntegrationEventHandler<ProbeEvent>, ProbeSubscriber>();
    }

    public void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/test/echo", (EchoRequest request) => TypedResults.Ok(request)).AllowAnonymous();
        endpoints.MapPost("/test/fail", (HttpContext _) => throw new InvalidOperationException("internal detail that must not leak")).AllowAnonymous();
    }
}
