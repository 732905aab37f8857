using Npgsql;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// The real servers that scripts/test.sh starts on 127.0.0.1. Tests that need them fail with a
/// message saying how to start them, rather than silently skipping.
/// </summary>
public static class TestEnvironment
{
    public static string PostgresAdminConnectionString =>
        Environment.GetEnvironmentVariable("MLP_TEST_POSTGRES")
        ?? throw new InvalidOperationException("MLP_TEST_POSTGRES is not set: run the tests through scripts/test.sh, which starts PostgreSQL.");

    public static string S3Endpoint =>
        Environment.GetEnvironmentVariable("MLP_TEST_S3_ENDPOINT")
        ?? throw new InvalidOperationException("MLP_TEST_S3_ENDPOINT is not set: run the tests through scripts/test.sh, which starts s3rver.");

    public static string S3AccessKey => Environment.GetEnvironmentVariable("MLP_TEST_S3_ACCESS_KEY") ?? "S3RVER";

    public static string S3SecretKey => Environment.GetEnvironmentVariable("MLP_TEST_S3_SECRET_KEY") ?? "S3RVER";
}

/// <summary>A fresh PostgreSQL database for one test class, dropped afterwards.</summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private PostgresDatabase(string name, string connectionString)
    {
        Name = name;
        ConnectionString = connectionString;
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public static async Task<PostgresDatabase> CreateAsync()
    {
        var name = "mlp_test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var connection = new NpgsqlConnection(TestEnvironment.PostgresAdminConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await command.ExecuteNonQueryAsync();
        }

        var builder = new NpgsqlConnectionStringBuilder(TestEnvironment.PostgresAdminConnectionString) { Database = name };
        return new PostgresDatabase(name, builder.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(TestEnvironment.PostgresAdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
        await command.ExecuteNonQueryAsync();
    }
}
