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

    public static TheoryData<string> Modules => new(MlPlatform.Host.ModuleCatalog.All.Select(m => m.Name));

    [Theory]
    [MemberData(nameof(Modules))]
    public async Task Given_one_module_enabled_Then_host_starts_and_serves_with_only_that_module(string module)
    {
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Modules:Enabled"] = module });
        using var client = factory.CreateClient();

        var response = await client.GetAsync("/health/ready");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        body.RootElement.GetProperty("checks").EnumerateObject().Select(p => p.Name).Order()
            .ShouldBe(new[] { "artifact-store", "db:" + module }.Order());
        var store = MlPlatform.Host.ModuleCatalog.All.Single(m => m.Name == module).Schema;
        Directory.GetFiles(Path.Combine(factory.DataDirectory, "db"), "*.db").Select(Path.GetFileNameWithoutExtension).Order()
            .ShouldBe(new[] { store, "quartz" }.Order());
        (await client.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task Given_running_host_Then_metrics_scrape_passes_promtool_check()
    {
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite);
        using var client = factory.CreateClient();
        await client.GetAsync("/health/ready");

        var response = await client.GetAsync("/metrics");
        var scrape = await response.Content.ReadAsStringAsync();

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        scrape.ShouldContain("http_server_request_duration_seconds");
        var (exitCode, output) = await Promtool(scrape);
        exitCode.ShouldBe(0, output);
    }

    [Fact]
    public async Task Given_openmetrics_accept_header_Then_metrics_are_still_prometheus_text()
    {
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite);
        using var client = factory.CreateClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Accept.ParseAdd("application/openmetrics-text; version=1.0.0");

        var response = await client.SendAsync(request);

        response.Content.Headers.ContentType!.MediaType.ShouldBe("text/plain");
        var (exitCode, output) = await Promtool(await response.Content.ReadAsStringAsync());
        exitCode.ShouldBe(0, output);
    }

    [Fact]
    public async Task Given_running_host_Then_openapi_document_and_interactive_reference_are_served()
    {
        await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite);
        using var client = factory.CreateClient();

        var openApi = await client.GetAsync("/openapi/v1.json");
        var docs = await client.GetAsync("/docs/");

        openApi.StatusCode.ShouldBe(HttpStatusCode.OK);
        using var document = JsonDocument.Parse(await openApi.Content.ReadAsStringAsync());
        document.RootElement.GetProperty("openapi").GetString()!.ShouldStartWith("3.");
        var schemes = document.RootElement.GetProperty("components").GetProperty("securitySchemes");
        schemes.TryGetProperty("Bearer", out _).ShouldBeTrue();
        schemes.TryGetProperty("ApiKey", out _).ShouldBeTrue();
        var paths = document.RootElement.GetProperty("paths");
        paths.GetProperty("/api/v1/projects").GetProperty("get").TryGetProperty("security", out _).ShouldBeTrue("protected operations declare their credentials");
        paths.GetProperty("/api/v1/auth/login").GetProperty("post").TryGetProperty("security", out _).ShouldBeFalse("login is anonymous");
        docs.StatusCode.ShouldBe(HttpStatusCode.OK);
        // Scalar resolves this source against the application's base path, i.e. /openapi/v1.json.
        (await docs.Content.ReadAsStringAsync()).ShouldContain("\"url\":\"openapi/v1.json\"");
    }

    /// <summary>Runs <c>promtool check metrics</c> (its lint included) on a scrape.</summary>
    internal static async Task<(int ExitCode, string Output)> Promtool(string scrape)
    {
        var start = new System.Diagnostics.ProcessStartInfo("promtool", "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = System.Diagnostics.Process.Start(start)!;
        await process.StandardInput.WriteAsync(scrape);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
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
