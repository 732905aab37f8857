using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using Quartz;

namespace MlPlatform.IntegrationTests.Scheduling;

/// <summary>The host's one scheduler: which job store it uses on each database provider.</summary>
public sealed class SchedulerStoreTests
{
    [Fact]
    public async Task Given_sqlite_When_host_starts_Then_scheduler_is_persistent_and_not_clustered()
    {
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite);

        var metadata = await (await Scheduler(factory)).GetMetadata();

        metadata.JobStorePersistent.ShouldBeTrue();
        metadata.JobStoreClustered.ShouldBeFalse();
        File.Exists(Path.Combine(factory.DataDirectory, "db", "quartz.db")).ShouldBeTrue();
    }

    [Fact]
    public async Task Given_postgresql_When_host_starts_Then_scheduler_is_persistent_and_clustered()
    {
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.PostgreSql);

        var metadata = await (await Scheduler(factory)).GetMetadata();

        metadata.JobStorePersistent.ShouldBeTrue();
        metadata.JobStoreClustered.ShouldBeTrue();
    }

    [Fact]
    public async Task Given_sqlite_When_host_restarts_Then_a_stored_job_is_still_there()
    {
        // Both hosts use one data folder (each factory's own temporary folder stays unused).
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-test-" + Guid.NewGuid().ToString("N")[..12]);
        var settings = new Dictionary<string, string?> { ["Platform:DataDirectory"] = dataDirectory };
        var key = new JobKey("kept-across-restarts", "tests");
        try
        {
            await using (var first = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite, settings))
            {
                var job = JobBuilder.Create<NoOpJob>().WithIdentity(key).StoreDurably().Build();
                await (await Scheduler(first)).AddJob(job, new AddJobOptions());
            }

            await using var second = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite, settings);
            (await (await Scheduler(second)).GetJobDetail(key)).ShouldNotBeNull();
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    private static Task<IScheduler> Scheduler(PlatformFactory factory) =>
        factory.Services.GetRequiredService<ISchedulerFactory>().GetScheduler().AsTask();

    internal sealed class NoOpJob : IJob
    {
        public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default) => ValueTask.CompletedTask;
    }
}
