using System.Net;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Host;

public sealed class HostTests
{
    private static readonly string[] ModuleStores =
        ["user_management", "gateway", "workflow_engine", "model_registry", "data_pipeline", "prediction", "monitoring", "quartz"];

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_fresh_database_When_host_starts_Then_ready_reports_every_module_and_the_artifact_store(DatabaseProvider provider)
    {
        await using var factory = await PlatformFactory.CreateAsync(provider);
        using var client = factory.CreateClient();

        var response = await client.GetAsync("/health/ready");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        body.RootElement.GetProperty("status").GetString().ShouldBe("Healthy");
        var checks = body.RootElement.GetProperty("checks").EnumerateObject().Select(p => p.Name).ToList();
        checks.ShouldContain("artifact-store");
        foreach (var module in new[] { "UserManagement", "Gateway", "Workflows", "ModelRegistry", "DataPipelines", "Predictions", "Monitoring" })
        {
            checks.ShouldContain("db:" + module);
        }

        if (provider == DatabaseProvider.PostgreSql)
        {
            var schemas = await PostgresSchemas(factory.PostgresConnectionString!);
            ModuleStores.ShouldAllBe(s => schemas.Contains(s));
        }
        else
        {
            var files = Directory.GetFiles(Path.Combine(factory.DataDirectory, "db"), "*.db").Select(Path.GetFileNameWithoutExtension).ToList();
            ModuleStores.ShouldAllBe(s => files.Contains(s));
        }
    }

    private static async Task<List<string>> PostgresSchemas(string connectionString)
    {
        await using var connection = new Npgsql.NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT schema_name FROM information_schema.schemata", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var schemas = new List<string>();
        while (await reader.ReadAsync())
        {
            schemas.Add(reader.GetString(0));
        }

        return schemas;
    }
}
