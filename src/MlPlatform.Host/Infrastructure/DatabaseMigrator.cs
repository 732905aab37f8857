using Microsoft.EntityFrameworkCore;
using Microsoft.Data.Sqlite;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Host.Infrastructure;

/// <summary>Applies every enabled module's migrations for the configured provider.</summary>
internal sealed partial class DatabaseMigrator(
    IServiceProvider services,
    IEnumerable<IModule> modules,
    DatabaseSettings settings,
    ILogger<DatabaseMigrator> logger)
{
    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await PrepareSchedulerStoreAsync(cancellationToken);

        foreach (var module in modules)
        {
            if (module.DbContextType is not { } contextType)
            {
                continue;
            }

            await using var scope = services.CreateAsyncScope();
            var db = (DbContext)scope.ServiceProvider.GetRequiredService(contextType);
            if (settings.Provider == DatabaseProvider.Sqlite)
            {
                await EnableWriteAheadLog(settings.SqliteConnectionString(module.Schema), cancellationToken);
            }

            // Asking for pending migrations first would query a history table that may not exist yet
            // (logged as an error on a fresh database); count what is applied afterwards instead.
            await db.Database.MigrateAsync(cancellationToken);
            var applied = (await db.Database.GetAppliedMigrationsAsync(cancellationToken)).Count();
            LogMigrated(logger, module.Name, applied);
        }
    }

    /// <summary>
    /// The scheduler provisions its own tables at start, but on PostgreSQL not the schema they live
    /// in; on SQLite the data folder must exist. Both are idempotent and cheap.
    /// </summary>
    public async Task PrepareSchedulerStoreAsync(CancellationToken cancellationToken)
    {
        if (settings.Provider == DatabaseProvider.Sqlite)
        {
            Directory.CreateDirectory(Path.Combine(settings.DataDirectory, "db"));
            return;
        }

        await using var connection = new Npgsql.NpgsqlConnection(settings.PostgreSqlConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = $"CREATE SCHEMA IF NOT EXISTS {Scheduling.QuartzSchema}";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>WAL lets readers run beside the one writer; it is a property of the file, set once.</summary>
    internal static async Task EnableWriteAheadLog(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Database of module {Module} is up to date ({Applied} migration(s))")]
    private static partial void LogMigrated(ILogger logger, string module, int applied);
}
