using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.Predictions.Batch;
using MlPlatform.Predictions.Endpoints;
using MlPlatform.Predictions.Following;
using MlPlatform.Predictions.Inference;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.Predictions.Steps;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Predictions;

public sealed class PredictionsModule : Module<PredictionsDbContext>
{
    public override string Name => "Predictions";

    public override string Schema => PredictionsDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(PredictionsSettings.Read(context.Configuration));
        services.AddSingleton<ModelSessions>();
        services.AddSingleton(sp =>
        {
            var router = ActivatorUtilities.CreateInstance<EndpointRouter>(sp);
            PredictionMetrics.ObserveRouter(router);
            return router;
        });
        services.AddSingleton<InferenceEngine>();
        services.AddSingleton<DataPlaneAccess>();
        services.AddSingleton<DataPlane>();
        V2ErrorWriter.Register(services);
        services.AddSingleton<BatchPredictor>();
        services.AddSingleton<BatchJobs>();
        services.AddHostedService<EndpointRefresher>();
        services.AddSingleton<EndpointChangeFollower>();
        services.AddHostedService(sp => sp.GetRequiredService<EndpointChangeFollower>());
        services.AddHostedService<BatchJobSweeper>();
        services.AddScoped<EndpointWriter>();
        services.AddScoped<IModelVersionServing, ModelVersionServing>();
        // Order matters: the follower commits the new version before the reloader rebuilds the tables.
        services.AddScoped<IIntegrationEventHandler<AliasMoved>, FollowAliasHandler>();
        services.AddScoped<IIntegrationEventHandler<AliasMoved>, ReloadFollowersHandler>();
        services.AddStepType<ModelDeployStep>();
        services.AddStepType<PredictBatchStep>();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints) =>
        // Body limits are fixed when the endpoints are mapped, so the settings are read here.
        endpoints.MapPredictionsEndpoints(endpoints.ServiceProvider.GetRequiredService<PredictionsSettings>());
}
