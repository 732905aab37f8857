using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Metadata.Builders;
using MlPlatform.Workflows.Domain;
using MlPlatform.Workflows.Runs;

namespace MlPlatform.Workflows.Persistence;

internal sealed class WorkflowConfiguration : IEntityTypeConfiguration<Workflow>
{
    public void Configure(EntityTypeBuilder<Workflow> builder)
    {
        builder.ToTable("workflows");
        builder.HasKey(w => w.Id);
        builder.Property(w => w.Id).ValueGeneratedNever();
        builder.Property(w => w.Name).HasMaxLength(63);
        builder.Property(w => w.Description).HasMaxLength(2000);
        // Adding a version and deleting check both, so neither lands on a state the other just changed.
        builder.Property(w => w.LatestVersion).IsConcurrencyToken();
        builder.Property(w => w.DeletedAt).IsConcurrencyToken();
        // One live workflow per name and project; deleted ones keep their name for their versions.
        builder.HasIndex(w => new { w.ProjectId, w.Name }).IsUnique().HasFilter("deleted_at IS NULL");
    }
}

internal sealed class WorkflowVersionConfiguration : IEntityTypeConfiguration<WorkflowVersion>
{
    public void Configure(EntityTypeBuilder<WorkflowVersion> builder)
    {
        builder.ToTable("workflow_versions");
        builder.HasKey(v => v.Id);
        builder.Property(v => v.Id).ValueGeneratedNever();
        builder.Property(v => v.ContentHash).HasMaxLength(64);
        builder.Property(v => v.SourceFormat).HasMaxLength(8);
        builder.HasIndex(v => new { v.WorkflowId, v.Version }).IsUnique();
        builder.HasOne<Workflow>().WithMany().HasForeignKey(v => v.WorkflowId).OnDelete(DeleteBehavior.Restrict);
    }
}

internal sealed class WorkflowRunConfiguration : IEntityTypeConfiguration<Runs.WorkflowRun>
{
    public void Configure(EntityTypeBuilder<Runs.WorkflowRun> builder)
    {
        builder.ToTable("runs");
        builder.HasKey(r => r.Id);
        builder.Property(r => r.Id).ValueGeneratedNever();
        builder.Property(r => r.WorkflowName).HasMaxLength(63);
        builder.Property(r => r.State).HasMaxLength(16);
        builder.Property(r => r.Error).HasMaxLength(4000);
        builder.Property(r => r.Revision).IsConcurrencyToken();
        builder.HasIndex(r => new { r.ProjectId, r.CreatedAt });
        builder.HasIndex(r => new { r.ProjectId, r.WorkflowName, r.State });
        builder.HasIndex(r => new { r.WorkflowId, r.State });
        // The active-runs gauge counts these on every scrape; finished runs (nearly all) are not in it.
        builder.HasIndex(r => r.State).HasDatabaseName("ix_runs_active").HasFilter("state IN ('waiting', 'queued', 'running')");
        builder.Property(r => r.Trigger).HasMaxLength(16);
        builder.Property(r => r.TriggerKey).HasMaxLength(100);
        builder.HasIndex(r => new { r.WorkflowId, r.TriggerKey }).IsUnique();
    }
}

internal sealed class RunStepConfiguration : IEntityTypeConfiguration<Runs.RunStep>
{
    public void Configure(EntityTypeBuilder<Runs.RunStep> builder)
    {
        builder.ToTable("run_steps");
        builder.HasKey(s => s.Id);
        builder.Property(s => s.Id).ValueGeneratedNever();
        builder.Property(s => s.StepId).HasMaxLength(63);
        builder.Property(s => s.Type).HasMaxLength(200);
        builder.Property(s => s.State).HasMaxLength(16);
        builder.Property(s => s.Error).HasMaxLength(4000);
        builder.Property(s => s.OverriddenBy).HasMaxLength(200);
        builder.Property(s => s.OverrideComment).HasMaxLength(2000);
        builder.HasIndex(s => new { s.RunId, s.StepId }).IsUnique();

        // No foreign key to runs, nor from step_attempts to run_steps: the engine writes a run, its
        // steps and their attempts in one transaction and deletes none of them, and the per-row
        // check (a trigger and an index probe for each row) took 50–60 ms of every 10,000 rows a
        // wide run's start inserts on PostgreSQL, a third of the start.
    }
}

internal sealed class StepAttemptConfiguration : IEntityTypeConfiguration<Runs.StepAttempt>
{
    public void Configure(EntityTypeBuilder<Runs.StepAttempt> builder)
    {
        builder.ToTable("step_attempts");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).ValueGeneratedNever();
        builder.Property(a => a.State).HasMaxLength(16);
        builder.Property(a => a.Error).HasMaxLength(4000);
        builder.Property(a => a.LeaseOwner).HasMaxLength(200);
        builder.HasIndex(a => new { a.RunStepId, a.Number }).IsUnique();
        builder.HasIndex(a => a.RunId);
        // The sweeps: expired leases of running attempts, and queued attempts nobody dispatched.
        // Partial, so the finished attempts (nearly all rows) are in neither index and an attempt's
        // last update (running → finished) maintains neither.
        builder.HasIndex(a => a.LeaseExpiresAt).HasDatabaseName("ix_step_attempts_running_lease").HasFilter("state = 'running'");
        builder.HasIndex(a => a.ScheduledFor).HasDatabaseName("ix_step_attempts_queued_due").HasFilter("state = 'queued'");
    }
}

internal sealed class ApprovalRequestConfiguration : IEntityTypeConfiguration<Runs.ApprovalRequest>
{
    public void Configure(EntityTypeBuilder<Runs.ApprovalRequest> builder)
    {
        builder.ToTable("approvals");
        builder.HasKey(a => a.Id);
        builder.Property(a => a.Id).ValueGeneratedNever();
        builder.Property(a => a.StepId).HasMaxLength(63);
        builder.Property(a => a.Message).HasMaxLength(2000);
        builder.Property(a => a.Roles).HasMaxLength(1000);
        builder.Property(a => a.Approvers).HasMaxLength(8000);
        builder.Property(a => a.State).HasMaxLength(16);
        builder.Property(a => a.DecidedByName).HasMaxLength(200);
        builder.Property(a => a.Comment).HasMaxLength(2000);
        builder.HasIndex(a => a.AttemptId).IsUnique();
        builder.HasIndex(a => new { a.ProjectId, a.State });
        builder.HasIndex(a => a.RunId);
        builder.HasOne<Runs.WorkflowRun>().WithMany().HasForeignKey(a => a.RunId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class StepLogLineConfiguration : IEntityTypeConfiguration<Runs.StepLogLine>
{
    public void Configure(EntityTypeBuilder<Runs.StepLogLine> builder)
    {
        builder.ToTable("step_logs");
        builder.HasKey(l => new { l.AttemptId, l.Sequence });
        builder.Property(l => l.Level).HasMaxLength(8);
        builder.Property(l => l.Message).HasMaxLength(StepLogs.MaxLineLength);
        builder.HasIndex(l => l.RunId);
        builder.HasOne<Runs.StepAttempt>().WithMany().HasForeignKey(l => l.AttemptId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class WorkflowScheduleConfiguration : IEntityTypeConfiguration<Schedules.WorkflowSchedule>
{
    public void Configure(EntityTypeBuilder<Schedules.WorkflowSchedule> builder)
    {
        builder.ToTable("schedules");
        builder.HasKey(s => s.WorkflowId);
        builder.Property(s => s.WorkflowId).ValueGeneratedNever();
        builder.Property(s => s.Cron).HasMaxLength(200);
        builder.Property(s => s.TimeZone).HasMaxLength(100);
        builder.Property(s => s.Overlap).HasMaxLength(16);
        builder.HasIndex(s => s.NextFireAt);
        builder.HasOne<Workflow>().WithMany().HasForeignKey(s => s.WorkflowId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class EventTriggerRowConfiguration : IEntityTypeConfiguration<Triggers.EventTriggerRow>
{
    public void Configure(EntityTypeBuilder<Triggers.EventTriggerRow> builder)
    {
        builder.ToTable("event_triggers");
        builder.HasKey(t => t.Id);
        builder.Property(t => t.Id).ValueGeneratedNever();
        builder.Property(t => t.EventType).HasMaxLength(300);
        builder.HasIndex(t => t.EventType);
        builder.HasIndex(t => t.WorkflowId);
        builder.HasOne<Workflow>().WithMany().HasForeignKey(t => t.WorkflowId).OnDelete(DeleteBehavior.Cascade);
    }
}

internal sealed class PoolRowConfiguration : IEntityTypeConfiguration<Concurrency.PoolRow>
{
    public void Configure(EntityTypeBuilder<Concurrency.PoolRow> builder)
    {
        builder.ToTable("pools");
        builder.HasKey(p => p.Name);
        builder.Property(p => p.Name).HasMaxLength(63);
    }
}

internal sealed class PoolLeaseConfiguration : IEntityTypeConfiguration<Concurrency.PoolLease>
{
    public void Configure(EntityTypeBuilder<Concurrency.PoolLease> builder)
    {
        builder.ToTable("pool_leases");
        builder.HasKey(l => l.AttemptId);
        builder.Property(l => l.AttemptId).ValueGeneratedNever();
        builder.Property(l => l.Pool).HasMaxLength(63);
        builder.HasIndex(l => new { l.Pool, l.ExpiresAt });
    }
}
