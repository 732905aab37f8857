using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Training.Local;
using MlPlatform.DataPipelines.Training.RemoteJobs;
using MlPlatform.DataPipelines.Training.SageMaker;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Contracts.Runs;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training;

public static class TrainingRegistration
{
    /// <summary>The <c>model.train</c> and <c>model.evaluate</c> step types with the local (ML.NET) and SageMaker backends.</summary>
    public static IServiceCollection AddTraining(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var settings = TrainingSettings.Read(configuration);
        services.AddSingleton(settings);
        services.AddSingleton<ITrainingBackend, LocalTrainingBackend>();
        services.AddSingleton(new SageMakerClient(new HttpClient(), settings.SageMaker));
        services.AddSingleton<ITrainingBackend, SageMakerTrainingBackend>();
        // Remote jobs of a run that is cancelled or fails while its step is suspended are stopped here.
        services.AddSingleton<RemoteJobLedger>();
        services.AddSingleton<RemoteJobStopper>();
        services.AddScoped<IIntegrationEventHandler<RunCancelled>, StopRemoteJobsOnRunCancelled>();
        services.AddScoped<IIntegrationEventHandler<RunFailed>, StopRemoteJobsOnRunFailed>();
        services.AddStepType<TrainStep>();
        services.AddStepType<EvaluateStep>();
        return services;
    }
}
