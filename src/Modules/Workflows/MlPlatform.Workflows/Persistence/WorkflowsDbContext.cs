using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Domain;

namespace MlPlatform.Workflows.Persistence;

public sealed class WorkflowsDbContext(DbContextOptions<WorkflowsDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "workflow_engine";

    public override string Schema => SchemaName;

    public DbSet<Workflow> Workflows => Set<Workflow>();

    public DbSet<WorkflowVersion> WorkflowVersions => Set<WorkflowVersion>();
}
