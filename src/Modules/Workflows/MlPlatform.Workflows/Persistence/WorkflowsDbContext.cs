using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Runs;

namespace MlPlatform.Workflows.Persistence;

public sealed class WorkflowsDbContext(DbContextOptions<WorkflowsDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "workflow_engine";

    public override string Schema => SchemaName;

    public DbSet<Workflow> Workflows => Set<Workflow>();

    public DbSet<WorkflowVersion> WorkflowVersions => Set<WorkflowVersion>();

    public DbSet<WorkflowRun> Runs => Set<WorkflowRun>();

    public DbSet<RunStep> RunSteps => Set<RunStep>();

    public DbSet<StepAttempt> StepAttempts => Set<StepAttempt>();

    public DbSet<ApprovalRequest> Approvals => Set<ApprovalRequest>();

    public DbSet<StepLogLine> StepLogs => Set<StepLogLine>();

    public DbSet<Schedules.WorkflowSchedule> Schedules => Set<Schedules.WorkflowSchedule>();

    public DbSet<Triggers.EventTriggerRow> EventTriggers => Set<Triggers.EventTriggerRow>();

    public DbSet<Concurrency.PoolRow> Pools => Set<Concurrency.PoolRow>();

    public DbSet<Concurrency.PoolLease> PoolLeases => Set<Concurrency.PoolLease>();
}
