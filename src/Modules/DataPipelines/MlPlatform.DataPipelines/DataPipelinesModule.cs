using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.DataPipelines.Training;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.DataPipelines;

public sealed class DataPipelinesModule : Module<DataPipelinesDbContext>
{
    public override string Name => "DataPipelines";

    public override string Schema => DataPipelinesDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddTraining(context.Configuration);
    }
}
