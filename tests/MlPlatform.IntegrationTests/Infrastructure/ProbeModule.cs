using System.Collections.Concurrent;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.UserManagement.Contracts;

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

public sealed record ThingRequest(string? Name);

/// <summary>A project's object in the probe module; <c>ProjectId</c> comes from the authorization, never from the body.</summary>
public sealed record Thing(Guid Id, Guid ProjectId, string Name, string CreatedBy);

/// <summary>The probe module's project objects, in memory (it keeps no database).</summary>
public sealed class ProbeThings
{
    public ConcurrentDictionary<Guid, Thing> Items { get; } = new();
}

/// <summary>
/// A module of the tests: a JSON endpoint for edge behaviour, the probe subscriber, and project
/// objects guarded by the real <see cref="IProjectAuthorizer"/> the way a module guards its own.
/// </summary>
public sealed class ProbeModule(ProbeLog log) : IModule
{
    public string Name => "Probe";

    public string Schema => "probe";

    public Type? DbContextType => null;

    public void AddServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(log);
        services.AddScoped<IIntegrationEventHandler<ProbeEvent>, ProbeSubscriber>();
        services.AddSingleton<ProbeThings>();
    }

    public void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/test/echo", (EchoRequest request) => TypedResults.Ok(request)).AllowAnonymous();
        endpoints.MapPost("/test/fail", (HttpContext _) => throw new InvalidOperationException("internal detail that must not leak")).AllowAnonymous();

        var things = endpoints.MapGroup("/test/projects/{project}/things").RequireAuthorization(PlatformPolicies.Authenticated);
        things.MapPost("/", async (string project, ThingRequest body, ClaimsPrincipal user, IProjectAuthorizer authorizer, ProbeThings store, CancellationToken ct) =>
        {
            var access = await authorizer.AuthorizeAsync(user, project, Permission.Write, ct);
            var thing = new Thing(Guid.NewGuid(), access.ProjectId, body.Name ?? "thing", user.FindFirstValue(PlatformClaims.Subject)!);
            store.Items[thing.Id] = thing;
            return TypedResults.Created($"/test/projects/{project}/things/{thing.Id}", thing);
        });
        things.MapGet("/{id:guid}", async (string project, Guid id, ClaimsPrincipal user, IProjectAuthorizer authorizer, ProbeThings store, CancellationToken ct) =>
        {
            var access = await authorizer.AuthorizeAsync(user, project, Permission.Read, ct);
            // Another project's object is as unknown here as one that does not exist.
            return store.Items.TryGetValue(id, out var thing) && thing.ProjectId == access.ProjectId
                ? TypedResults.Ok(thing)
                : throw new NotFoundException("Thing", id.ToString());
        });
    }
}
