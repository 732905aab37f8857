using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.ModelRegistry.Steps;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.ModelRegistry;

public sealed class ModelRegistryModule : Module<ModelRegistryDbContext>
{
    public override string Name => "ModelRegistry";

    public override string Schema => ModelRegistryDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(ModelRegistrySettings.Read(context.Configuration));
        services.AddSingleton<VersionLookupCache>();
        services.AddScoped<VersionRegistrar>();
        // Uncached on purpose: Predictions resolves an alias when it follows AliasMoved, and must see the move.
        services.AddScoped<IModelVersionResolver, ModelVersionResolver>();
        services.AddScoped<IModelVersionMetrics, ModelVersionMetrics>();
        services.AddScoped<IModelVersionServingClaim, ModelVersionServingClaim>();
        services.AddScoped<IModelLineageQuery, ModelLineageQuery>();
        services.AddScoped<VersionLookupCacheInvalidation>();
        services.AddScoped<IIntegrationEventHandler<AliasMoved>>(sp => sp.GetRequiredService<VersionLookupCacheInvalidation>());
        services.AddScoped<IIntegrationEventHandler<ModelVersionApproved>>(sp => sp.GetRequiredService<VersionLookupCacheInvalidation>());
        services.AddScoped<IIntegrationEventHandler<ModelVersionRejected>>(sp => sp.GetRequiredService<VersionLookupCacheInvalidation>());
        services.AddScoped<IIntegrationEventHandler<VersionLookupChanged>>(sp => sp.GetRequiredService<VersionLookupCacheInvalidation>());
        // The outbox delivers each event to one host; every host follows the outbox table itself to forget stale entries.
        services.AddHostedService<RegistryOutboxFollower>();
        services.AddStepType<ModelRegisterStep>();
        services.AddStepType<ModelPromoteStep>();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints) =>
        // The upload endpoint's edge body limit is fixed when it is mapped, so the settings are read here.
        endpoints.MapModelRegistryEndpoints(endpoints.ServiceProvider.GetRequiredService<ModelRegistrySettings>());
}
