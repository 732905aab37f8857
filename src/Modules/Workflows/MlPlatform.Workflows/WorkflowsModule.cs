using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.StepTypes;
using MlPlatform.Workflows.WorkflowDefinitions;

namespace MlPlatform.Workflows;

public sealed class WorkflowsModule : Module<WorkflowsDbContext>
{
    public override string Name => "Workflows";

    public override string Schema => WorkflowsDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(HttpStepOptions.Read(context.Configuration));
        services.AddSingleton<IStepTypeRegistry, StepTypeRegistry>();
        services.AddSingleton<DefinitionProcessor>();
        services.AddHostedService<StepTypeRegistryCheck>();
        services.AddStepType<NoopStep>();
        services.AddStepType<WaitStep>();
        services.AddStepType<ApprovalStep>();
        services.AddStepType<HttpStep>();
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints) => endpoints.MapWorkflowEndpoints();
}
