using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Workflows.Persistence;

public sealed class WorkflowsDbContext(DbContextOptions<WorkflowsDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "workflow_engine";

    public override string Schema => SchemaName;
}
