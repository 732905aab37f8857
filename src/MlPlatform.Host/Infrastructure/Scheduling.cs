using MlPlatform.SharedKernel.Configuration;
using MlPlatform.Host.Configuration;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.SharedKernel.Persistence;
using Quartz;

namespace MlPlatform.Host.Infrastructure;

/// <summary>
/// One Quartz scheduler per host. PostgreSQL: ADO.NET store, clustered, schema provisioned on start.
/// SQLite: the same persistent store in its own file, not clustered.
/// </summary>
internal static class Scheduling
{
    public const string QuartzSchema = "quartz";

    public static void AddPlatformScheduler(this WebApplicationBuilder builder, PlatformSettings settings, IReadOnlyList<IModule> modules, ModuleContext context)
    {
        var configuration = builder.Configuration;
        var threads = (int)PlatformSettings.ReadLong(configuration, "Scheduler:ThreadCount", 10, min: 1, max: 200);
        var clustered = PlatformSettings.ReadBool(configuration, "Scheduler:Clustered", settings.Database.Provider == DatabaseProvider.PostgreSql);
        var checkin = PlatformSettings.ReadTimeSpan(configuration, "Scheduler:CheckinInterval", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(500));
        // How long an idle node sleeps before polling the store again. A node's own new triggers wake
        // it at once; triggers that another node scheduled are only seen at the next poll.
        var idleWait = PlatformSettings.ReadTimeSpan(configuration, "Scheduler:IdleWaitTime", TimeSpan.FromSeconds(30), TimeSpan.FromMilliseconds(100));
        var misfire = PlatformSettings.ReadTimeSpan(configuration, "Scheduler:MisfireThreshold", TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(1));
        if (clustered && settings.Database.Provider != DatabaseProvider.PostgreSql)
        {
            throw new InvalidConfigurationException("Scheduler:Clustered", "clustering needs the PostgreSQL database (SQLite is one host's file).");
        }

        // The modules' jobs and triggers are declared in code and applied at every start. Replacing a
        // stored trigger while another node holds it acquired lets both nodes fire it from then on
        // (Quartz 4.7.3; ClusteredSchedulerTests saw it), so a clustered node keeps what the store
        // holds unless told otherwise, e.g. for a release that changes a schedule, started on one node first.
        var replaceDeclared = PlatformSettings.ReadBool(configuration, "Scheduler:ReplaceDeclaredTriggers", !clustered);

        builder.Services.AddQuartz(q =>
        {
            q.ConfigureScheduler(o =>
            {
                o.IdleWaitTime = idleWait;
                o.InstanceName = configuration["Scheduler:Name"] is { Length: > 0 } name ? name : "MlPlatform";
                // Quartz keeps a literal "AUTO"; a generated id is what keeps cluster nodes apart.
                if (configuration["Scheduler:InstanceId"] is { Length: > 0 } id && id != "AUTO")
                {
                    o.InstanceId = id;
                }
                else
                {
                    o.GenerateInstanceId = true;
                }
            });
            q.UseDefaultThreadPool(threads);
            q.UsePersistentStore(store =>
            {
                store.UseSystemTextJsonSerializer();
                store.ConfigureStore(o =>
                {
                    // PostgreSQL: the scheduler's tables live in their own schema, beside the modules'.
                    o.TablePrefix = settings.Database.Provider == DatabaseProvider.PostgreSql ? QuartzSchema + ".qrtz_" : "qrtz_";
                    o.MisfireThreshold = misfire;
                });
                // Creates missing qrtz_* tables (never alters or drops); several hosts may race safely.
                store.ProvisionSchema();
                // One execution history for the whole cluster, in the database rather than per process.
                store.UseExecutionHistory();
                if (settings.Database.Provider == DatabaseProvider.PostgreSql)
                {
                    store.UsePostgres(pg =>
                    {
                        pg.ConnectionString = settings.Database.PostgreSqlConnectionString!;
                    });
                }
                else
                {
                    store.UseSqlite(sqlite =>
                    {
                        sqlite.ConnectionString = settings.Database.SqliteConnectionString(QuartzSchema);
                    });
                }

                if (clustered)
                {
                    store.UseClustering(c =>
                    {
                        c.CheckinInterval = checkin;
                        c.CheckinMisfireThreshold = checkin * 3;
                    });
                }
            });

            foreach (var module in modules)
            {
                module.AddJobs(q, context);
            }
        });

        if (!replaceDeclared)
        {
            builder.Services.Configure<QuartzOptions>(o => o.Scheduling.IgnoreDuplicates = true);
        }

        builder.Services.AddQuartzHostedService(o =>
        {
            // Graceful shutdown: running jobs finish; a killed host's recoverable jobs run again elsewhere.
            o.WaitForJobsToComplete = true;
            o.AwaitApplicationStarted = true;
        });
    }
}
