using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Quartz;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;
using MlPlatform.Workflows.Schedules;
using Microsoft.Extensions.Configuration;
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
        services.AddSingleton(Concurrency.PoolOptions.Read(context.Configuration));
        services.AddHttpClient(HttpStep.ClientName, c => c.Timeout = TimeSpan.FromMinutes(10))
            .ConfigurePrimaryHttpMessageHandler(() => new System.Net.Http.SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false });
        services.AddSingleton<IStepTypeRegistry, StepTypeRegistry>();
        services.AddSingleton<DefinitionProcessor>();
        services.AddHostedService<StepTypeRegistryCheck>();
        services.AddStepType<NoopStep>();
        services.AddStepType<WaitStep>();
        services.AddStepType<ApprovalStep>();
        services.AddStepType<HttpStep>();
        services.AddSingleton<DefinitionCache>();
        services.AddScoped<RunEngine>();
        services.AddScoped<RunStarter>();
        // Every integration event reaches the trigger rules (one indexed query when none match its type).
        services.AddScoped(typeof(SharedKernel.Messaging.IIntegrationEventHandler<>), typeof(Triggers.EventTriggerHandler<>));
    }

    /// <summary>
    /// One durable job runs every step attempt (one trigger per attempt). RequestRecovery: a host that
    /// dies mid-attempt has the trigger fired again elsewhere, which retries the step as a new attempt.
    /// </summary>
    public override void AddJobs(IQuartzBuilder quartz, ModuleContext context)
    {
        ArgumentNullException.ThrowIfNull(quartz);
        quartz.AddJob<StepAttemptJob>(j => j.WithIdentity(StepAttemptJob.Key).StoreDurably().RequestRecovery());
        quartz.AddJob<OrphanedAttemptSweep>(j => j.WithIdentity(OrphanedAttemptSweep.Key));
        quartz.AddJob<RunDeadlineJob>(j => j.WithIdentity(RunDeadlineJob.Key).StoreDurably());
        quartz.AddJob<ScheduleTickJob>(j => j.WithIdentity(ScheduleTickJob.Key));
        var tick = context.Configuration.GetValue("Workflows:Schedules:PollInterval", TimeSpan.FromSeconds(1));
        quartz.AddTrigger(t => t
            .ForJob(ScheduleTickJob.Key)
            .WithIdentity("schedule-tick", ScheduleTickJob.Key.Group)
            .StartNow()
            .WithSimpleSchedule(s => s.WithInterval(tick).RepeatForever()));
        quartz.AddTrigger(t => t
            .ForJob(OrphanedAttemptSweep.Key)
            .WithIdentity("orphaned-attempt-sweep", OrphanedAttemptSweep.Key.Group)
            .StartNow()
            .WithSimpleSchedule(s => s.WithInterval(OrphanedAttemptSweep.Interval).RepeatForever()));
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapWorkflowEndpoints();
        endpoints.MapRunEndpoints();
        endpoints.MapScheduleEndpoints();
    }
}
