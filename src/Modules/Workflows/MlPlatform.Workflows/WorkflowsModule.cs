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
        services.AddSingleton(EngineOptions.Read(context.Configuration));
        services.AddSingleton<AttemptDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<AttemptDispatcher>());
        services.AddScoped<RunEngine>();
        services.AddScoped<RunStarter>();
        // Every integration event reaches the trigger rules (one indexed query when none match its type).
        services.AddScoped(typeof(SharedKernel.Messaging.IIntegrationEventHandler<>), typeof(Triggers.EventTriggerHandler<>));
        services.AddSingleton(Triggers.TriggerOptions.Read(context.Configuration));
        // Registers this host's database with the active-runs gauge (counted when read).
        services.AddHostedService<ActiveRunsProbe>();
    }

    /// <summary>
    /// Quartz keeps the engine's timers: attempts due later (one trigger each on one durable job, which
    /// hands them to the dispatcher), run deadlines, cron schedules and the run sweep. Attempts due now
    /// go straight to the dispatcher, and a dead host's attempts are found by their lapsed leases.
    /// </summary>
    public override void AddJobs(IQuartzBuilder quartz, ModuleContext context)
    {
        ArgumentNullException.ThrowIfNull(quartz);
        quartz.AddJob<StepAttemptJob>(j => j.WithIdentity(StepAttemptJob.Key).StoreDurably());
        quartz.AddJob<RunSweepJob>(j => j.WithIdentity(RunSweepJob.Key));
        quartz.AddJob<RunDeadlineJob>(j => j.WithIdentity(RunDeadlineJob.Key).StoreDurably());
        quartz.AddJob<ScheduleTickJob>(j => j.WithIdentity(ScheduleTickJob.Key));
        var tick = context.Configuration.GetValue("Workflows:Schedules:PollInterval", TimeSpan.FromSeconds(1));
        quartz.AddTrigger(t => t
            .ForJob(ScheduleTickJob.Key)
            .WithIdentity("schedule-tick", ScheduleTickJob.Key.Group)
            .StartNow()
            .WithSimpleSchedule(s => s.WithInterval(tick).RepeatForever()));
        quartz.AddTrigger(t => t
            .ForJob(RunSweepJob.Key)
            .WithIdentity("run-sweep", RunSweepJob.Key.Group)
            .StartNow()
            .WithSimpleSchedule(s => s.WithInterval(RunSweepJob.Interval).RepeatForever()));
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapWorkflowEndpoints();
        endpoints.MapRunEndpoints();
        endpoints.MapScheduleEndpoints();
    }
}
