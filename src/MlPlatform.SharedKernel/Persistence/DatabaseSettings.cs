namespace MlPlatform.SharedKernel.Persistence;

public enum DatabaseProvider
{
    Sqlite,
    PostgreSql,
}

/// <summary>
/// Where module data lives. Embedded: one SQLite file per module under <see cref="DataDirectory"/>.
/// Production: one PostgreSQL database, one schema per module.
/// </summary>
public sealed record DatabaseSettings(
    DatabaseProvider Provider,
    string? PostgreSqlConnectionString,
    string DataDirectory)
{
    public const string SqliteMigrationsAssembly = "MlPlatform.Migrations.Sqlite";
    public const string PostgreSqlMigrationsAssembly = "MlPlatform.Migrations.PostgreSql";
    public const string MigrationsHistoryTable = "__ef_migrations_history";

    public string SqliteConnectionString(string schema) =>
        $"Data Source={Path.Combine(DataDirectory, "db", schema + ".db")};Pooling=True";
}
