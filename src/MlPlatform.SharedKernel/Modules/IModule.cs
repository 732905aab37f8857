using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Quartz;

namespace MlPlatform.SharedKernel.Modules;

/// <summary>
/// The one door through which the host loads a module: services, database, endpoints and jobs.
/// </summary>
public interface IModule
{
    /// <summary>Name used in <c>Modules:Enabled</c>, health checks and logs.</summary>
    string Name { get; }

    /// <summary>The database schema the module owns (PostgreSQL); the SQLite file name in embedded mode.</summary>
    string Schema { get; }

    /// <summary>
    /// The module's DbContext type, registered with the provider the host selected; null for a module
    /// that keeps no data of its own (it then has no migrations and no outbox).
    /// </summary>
    Type? DbContextType { get; }

    void AddServices(IServiceCollection services, ModuleContext context);

    void MapEndpoints(IEndpointRouteBuilder endpoints);

    /// <summary>Middleware the module adds to every request, after authentication and before authorization.</summary>
    void UseMiddleware(IApplicationBuilder app)
    {
    }

    /// <summary>Adds the module's Quartz jobs and triggers to the host's one scheduler.</summary>
    void AddJobs(IQuartzBuilder quartz, ModuleContext context)
    {
    }
}
