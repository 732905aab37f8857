using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.ModelRegistry;

public sealed class ModelRegistryModule : Module<ModelRegistryDbContext>
{
    public override string Name => "ModelRegistry";

    public override string Schema => ModelRegistryDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(ModelRegistrySettings.Read(context.Configuration));
        services.AddScoped<IModelVersionResolver, ModelVersionResolver>();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints) =>
        // The upload endpoint's edge body limit is fixed when it is mapped, so the settings are read here.
        endpoints.MapModelRegistryEndpoints(endpoints.ServiceProvider.GetRequiredService<ModelRegistrySettings>());
}
