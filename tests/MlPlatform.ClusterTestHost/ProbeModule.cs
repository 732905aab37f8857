using System.Globalization;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.Workflows.Contracts.StepTypes;
using Npgsql;
using Quartz;

namespace MlPlatform.ClusterTestHost;

/// <summary>
/// A test-only module without a database of its own: a recurring job and a long recoverable job,
/// both writing each execution to <c>probe_executions</c> so that a test can see which cluster
/// node ran which firing.
/// </summary>
public sealed class ProbeModule : IModule
{
    private static int _sleeping;

    public string Name => "Probe";

    public string Schema => "probe";

    public Type? DbContextType => null;

    public void AddServices(IServiceCollection services, ModuleContext context)
    {
        var connectionString = context.Database.PostgreSqlConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new InvalidConfigurationException("ConnectionStrings:PostgreSql", "the probe records its executions in PostgreSQL.");
        }

        services.AddSingleton(_ => new ProbeLog(NpgsqlDataSource.Create(connectionString)));
        services.AddStepType<ProbeSleepStep>();
    }

    public void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        // Stores a one-shot trigger in the shared job store: any node of the cluster may run it.
        endpoints.MapPost("/probe/slow", async (int seconds, ISchedulerFactory schedulers, CancellationToken cancellationToken) =>
        {
            var scheduler = await schedulers.GetScheduler(cancellationToken);
            var data = new JobDataMap { { SlowJob.SecondsKey, seconds.ToString(CultureInfo.InvariantCulture) } };
            await scheduler.TriggerJob(SlowJob.Key, data, cancellationToken);
            return Results.Accepted();
        }).AllowAnonymous();

        // A request that is still in flight when the host is asked to stop (graceful shutdown tests).
        endpoints.MapGet("/probe/sleep", async (int ms) =>
        {
            Interlocked.Increment(ref _sleeping);
            await Task.Delay(ms, CancellationToken.None);
            return Results.Ok(new { slept = ms });
        }).AllowAnonymous();

        // How many sleep requests have arrived, so a test signals the host only once one is in flight.
        endpoints.MapGet("/probe/sleeping", () => Results.Ok(new { arrived = Volatile.Read(ref _sleeping) })).AllowAnonymous();
    }

    public void AddJobs(IQuartzBuilder quartz, ModuleContext context)
    {
        quartz.AddJob<TickJob>(j => j.WithIdentity(TickJob.Key));
        quartz.AddTrigger(t => t
            .ForJob(TickJob.Key)
            .WithIdentity(TickJob.TriggerName, TickJob.Key.Group)
            .StartNow()
            .WithSimpleSchedule(s => s.WithInterval(TimeSpan.FromSeconds(1)).RepeatForever()));

        // Durable so that it can wait for manual triggers; recoverable so a dead node's run starts again elsewhere.
        quartz.AddJob<SlowJob>(j => j
            .WithIdentity(SlowJob.Key)
            .StoreDurably()
            .RequestRecovery()
            .UsingJobData(SlowJob.SecondsKey, "20"));
    }
}

/// <summary>Fires every second; never two at once, so overlapping firings cannot hide a double run.</summary>
[DisallowConcurrentExecution]
internal sealed class TickJob(ProbeLog log) : IJob
{
    public static readonly JobKey Key = new("tick", "probe");
    public const string TriggerName = "tick-every-second";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) =>
        await log.RecordStartAsync("tick", context, cancellationToken);
}

/// <summary>Runs for the number of seconds in its job data, recording start and completion.</summary>
internal sealed class SlowJob(ProbeLog log) : IJob
{
    public static readonly JobKey Key = new("slow", "probe");
    public const string SecondsKey = "seconds";

    public async ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        // A string survives the JSON job-data round trip unchanged (numbers may come back as another type).
        var seconds = int.Parse(context.MergedJobDataMap.GetString(SecondsKey) ?? "20", CultureInfo.InvariantCulture);
        var id = await log.RecordStartAsync("slow", context, cancellationToken);
        await Task.Delay(TimeSpan.FromSeconds(seconds), cancellationToken);
        await log.RecordCompletionAsync(id, cancellationToken);
    }
}

/// <summary>Writes executions to <c>probe_executions</c>, creating the table on first use.</summary>
internal sealed class ProbeLog(NpgsqlDataSource dataSource) : IAsyncDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private bool _tableReady;

    public async Task<long> RecordStartAsync(string job, IJobExecutionContext context, CancellationToken cancellationToken)
    {
        await EnsureTableAsync(cancellationToken);
        await using var command = dataSource.CreateCommand(
            """
            INSERT INTO probe_executions (job, fire_instance_id, trigger_key, scheduled_fire_time_utc, instance_id, pid, recovering)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            RETURNING id
            """);
        command.Parameters.AddWithValue(job);
        command.Parameters.AddWithValue(context.FireInstanceId);
        command.Parameters.AddWithValue(context.Trigger.Key.ToString());
        command.Parameters.AddWithValue((object?)context.ScheduledFireTimeUtc?.ToUniversalTime() ?? DBNull.Value);
        command.Parameters.AddWithValue(context.Scheduler.SchedulerInstanceId);
        command.Parameters.AddWithValue(Environment.ProcessId);
        command.Parameters.AddWithValue(context.Recovering);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task RecordCompletionAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("UPDATE probe_executions SET completed_at = clock_timestamp() WHERE id = $1");
        command.Parameters.AddWithValue(id);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (_tableReady)
        {
            return;
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_tableReady)
            {
                return;
            }

            await using var command = dataSource.CreateCommand(
                """
                CREATE TABLE IF NOT EXISTS probe_executions (
                    id bigserial PRIMARY KEY,
                    job text NOT NULL,
                    fire_instance_id text NOT NULL,
                    trigger_key text NOT NULL,
                    scheduled_fire_time_utc timestamptz NULL,
                    instance_id text NOT NULL,
                    pid integer NOT NULL,
                    recovering boolean NOT NULL,
                    started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
                    completed_at timestamptz NULL)
                """);
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken);
            }
            catch (PostgresException ex) when (ex.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.DuplicateTable)
            {
                // IF NOT EXISTS is not atomic: another node created the table at the same moment.
            }

            _tableReady = true;
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await dataSource.DisposeAsync();
        _gate.Dispose();
    }
}
