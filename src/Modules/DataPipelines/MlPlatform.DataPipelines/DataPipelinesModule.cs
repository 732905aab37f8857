using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.DataPipelines.Quality;
using MlPlatform.DataPipelines.Steps;
using MlPlatform.DataPipelines.Training;
using MlPlatform.DataPipelines.Transforms;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines;

public sealed class DataPipelinesModule : Module<DataPipelinesDbContext>
{
    public override string Name => "DataPipelines";

    public override string Schema => DataPipelinesDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(DataPipelinesSettings.Read(context.Configuration));
        services.AddSingleton<DatasetCache>();
        services.AddScoped<DatasetService>();
        services.AddScoped<QualityService>();
        services.AddScoped<TransformService>();
        services.AddHttpClient(LineageDelivery.ClientName, client => client.Timeout = TimeSpan.FromSeconds(30));
        services.AddHostedService<LineageDelivery>();
        services.AddStepType<IngestStep>();
        services.AddStepType<ValidateStep>();
        services.AddStepType<TransformStep>();
        services.AddStepType<SplitStep>();
        services.AddTraining(context.Configuration);
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints) =>
        // The upload endpoint's edge body limit is fixed when it is mapped, so the settings are read here.
        endpoints.MapDataPipelinesEndpoints(endpoints.ServiceProvider.GetRequiredService<DataPipelinesSettings>());
}
