using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.SharedKernel.Persistence;

public static class PersistenceRegistration
{
    /// <summary>Registers a module's DbContext (pooled) on the provider the host selected.</summary>
    public static IServiceCollection AddModuleDbContext<TDbContext>(
        this IServiceCollection services, DatabaseSettings settings, string schema)
        where TDbContext : ModuleDbContext
    {
        services.AddDbContextPool<TDbContext>((sp, options) =>
            Configure(options, settings, schema).AddInterceptors(sp.GetRequiredService<OutboxSignal>()));
        return services;
    }

    /// <summary>The one place that turns settings into provider options (host, migrations, tests).</summary>
    public static DbContextOptionsBuilder Configure(DbContextOptionsBuilder options, DatabaseSettings settings, string schema)
    {
        switch (settings.Provider)
        {
            case DatabaseProvider.PostgreSql:
                options.UseNpgsql(WithAutoPrepare(settings.PostgreSqlConnectionString), npgsql => npgsql
                    .MigrationsAssembly(DatabaseSettings.PostgreSqlMigrationsAssembly)
                    .MigrationsHistoryTable(DatabaseSettings.MigrationsHistoryTable, schema));
                break;
            default:
                options.UseSqlite(settings.SqliteConnectionString(schema), sqlite => sqlite
                    .MigrationsAssembly(DatabaseSettings.SqliteMigrationsAssembly)
                    .MigrationsHistoryTable(DatabaseSettings.MigrationsHistoryTable)
                    // A list in Contains goes as one JSON parameter (json_each), not one parameter per
                    // element: the engine's claims and finishes pass hundreds of ids, which cost a
                    // bound parameter each and a cached plan per list length.
                    .UseParameterizedCollectionMode(ParameterTranslationMode.Parameter));
                // SQLite changes a foreign key by rebuilding the table, with enforcement switched off
                // around the swap (a PRAGMA, which no transaction can hold); the copy and the swap are
                // each transactional. A routine step of such migrations, not worth a warning at every start.
                options.ConfigureWarnings(w => w.Log((RelationalEventId.NonTransactionalMigrationOperationWarning, Microsoft.Extensions.Logging.LogLevel.Debug)));
                break;
        }

        return options;
    }

    /// <summary>
    /// Prepares the statements a connection runs often (Npgsql's automatic preparation), unless the
    /// connection string says otherwise: the engine's per-step statements then skip PostgreSQL's
    /// parse and plan (≈ 10 % of a chained step's time on the W1 benchmark).
    /// </summary>
    public static string? WithAutoPrepare(string? connectionString)
    {
        if (connectionString is null)
        {
            return null;
        }

        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!builder.ContainsKey("Max Auto Prepare"))
        {
            builder.MaxAutoPrepare = 64;
        }

        return builder.ConnectionString;
    }

    public static DbContextOptions<TDbContext> CreateOptions<TDbContext>(DatabaseSettings settings, string schema)
        where TDbContext : DbContext
    {
        var builder = new DbContextOptionsBuilder<TDbContext>();
        Configure(builder, settings, schema);
        return builder.Options;
    }
}
