using MlPlatform.Workflows.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.Workflows;

public sealed class WorkflowsModule : Module<WorkflowsDbContext>
{
    public override string Name => "Workflows";

    public override string Schema => WorkflowsDbContext.SchemaName;
}
