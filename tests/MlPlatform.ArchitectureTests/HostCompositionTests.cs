using Mediator;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Host;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.ArchitectureTests;

/// <summary>Rules checked on the composed host: handlers, schemas, endpoint authorization.</summary>
public sealed class HostCompositionTests : IAsyncLifetime
{
    private readonly string _dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-arch-" + Guid.NewGuid().ToString("N")[..8]);
    private WebApplication _app = null!;

    public Task InitializeAsync()
    {
        // Built, not started: nothing is opened, which is all these rules need.
        _app = PlatformHost.Build([$"--Platform:DataDirectory={_dataDirectory}", "--urls=http://127.0.0.1:0"]);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        if (Directory.Exists(_dataDirectory))
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
    }

    [Fact]
    public void Given_every_mediator_request_in_the_modules_Then_a_handler_is_registered()
    {
        var isService = _app.Services.GetRequiredService<IServiceProviderIsService>();
        var messages = ModuleCatalog.All
            .SelectMany(m => new[] { m.GetType().Assembly, System.Reflection.Assembly.Load(m.GetType().Assembly.GetName().Name + ".Contracts") })
            .SelectMany(a => a.GetTypes())
            .Where(t => t is { IsAbstract: false, IsInterface: false } && typeof(IMessage).IsAssignableFrom(t) && !typeof(INotification).IsAssignableFrom(t))
            .ToList();

        foreach (var message in messages)
        {
            var handler = HandlerTypeFor(message);
            isService.IsService(handler).ShouldBeTrue($"{message.FullName} has no handler ({handler.Name})");
        }
    }

    private static Type HandlerTypeFor(Type message)
    {
        foreach (var contract in message.GetInterfaces().Where(i => i.IsGenericType))
        {
            var definition = contract.GetGenericTypeDefinition();
            var arguments = new[] { message, contract.GetGenericArguments()[0] };
            if (definition == typeof(ICommand<>))
            {
                return typeof(ICommandHandler<,>).MakeGenericType(arguments);
            }

            if (definition == typeof(IQuery<>))
            {
                return typeof(IQueryHandler<,>).MakeGenericType(arguments);
            }

            if (definition == typeof(IRequest<>))
            {
                return typeof(IRequestHandler<,>).MakeGenericType(arguments);
            }
        }

        throw new InvalidOperationException($"{message} is a message of a kind this rule does not know.");
    }

    [Fact]
    public void Given_every_module_DbContext_Then_each_has_its_own_schema_on_PostgreSQL()
    {
        var seen = new HashSet<string>();
        foreach (var module in ModuleCatalog.All)
        {
            var settings = new DatabaseSettings(DatabaseProvider.PostgreSql, "Host=localhost;Database=x", _dataDirectory);
            var optionsType = typeof(DbContextOptions<>).MakeGenericType(module.DbContextType!);
            var create = typeof(PersistenceRegistration).GetMethod(nameof(PersistenceRegistration.CreateOptions))!.MakeGenericMethod(module.DbContextType!);
            var options = create.Invoke(null, [settings, module.Schema])!;
            optionsType.IsInstanceOfType(options).ShouldBeTrue();
            using var db = (ModuleDbContext)Activator.CreateInstance(module.DbContextType!, options)!;

            db.Schema.ShouldBe(module.Schema);
            db.Model.GetDefaultSchema().ShouldBe(module.Schema);
            db.Model.GetEntityTypes().Select(e => e.GetSchema()).ShouldAllBe(s => s == module.Schema);
            seen.Add(module.Schema).ShouldBeTrue($"schema {module.Schema} is used by two modules");
        }
    }

    [Fact]
    public void Given_every_endpoint_Then_it_has_an_authorization_policy_or_is_anonymous_on_purpose()
    {
        var endpoints = ((IEndpointRouteBuilder)_app).DataSources.SelectMany(d => d.Endpoints).OfType<RouteEndpoint>().ToList();
        endpoints.ShouldNotBeEmpty();

        var unprotected = endpoints
            .Where(e => e.Metadata.GetMetadata<IAllowAnonymous>() is null && e.Metadata.GetMetadata<IAuthorizeData>() is null)
            .Select(e => e.RoutePattern.RawText)
            .ToList();

        unprotected.ShouldBeEmpty();
    }
}
