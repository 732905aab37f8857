using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Persistence;
using Quartz;

namespace MlPlatform.SharedKernel.Modules;

/// <summary>
/// Base class for a module with one DbContext: registers the context on the host's provider
/// (SQLite file or PostgreSQL schema) and its health check, so modules only add what is theirs.
/// </summary>
public abstract class Module<TDbContext> : IModule
    where TDbContext : ModuleDbContext
{
    public abstract string Name { get; }

    public abstract string Schema { get; }

    public Type? DbContextType => typeof(TDbContext);

    public void AddServices(IServiceCollection services, ModuleContext context)
    {
        services.AddModuleDbContext<TDbContext>(context.Database, Schema);
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck<TDbContext>>(
            $"db:{Name}", tags: [HealthTags.Ready]);
        AddModuleServices(services, context);
    }

    protected virtual void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
    }

    public virtual void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
    }

    public virtual void UseMiddleware(IApplicationBuilder app)
    {
    }

    /// <summary>Declared here too: a class's own member hides the interface's default from overrides.</summary>
    public virtual void AddJobs(IQuartzBuilder quartz, ModuleContext context)
    {
    }
}

public static class HealthTags
{
    public const string Ready = "ready";
}
