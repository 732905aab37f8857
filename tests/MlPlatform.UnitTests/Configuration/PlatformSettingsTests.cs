using Microsoft.Extensions.Configuration;
using MlPlatform.Host.Configuration;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.UnitTests.Configuration;

public sealed class PlatformSettingsTests
{
    private static readonly string[] Modules = ["UserManagement", "Predictions", "Monitoring"];

    private static PlatformSettings Read(params (string Key, string? Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build();
        return PlatformSettings.Read(configuration, Modules);
    }

    [Fact]
    public void Given_no_settings_Then_embedded_defaults_apply()
    {
        var settings = Read();

        settings.Database.Provider.ShouldBe(DatabaseProvider.Sqlite);
        settings.Database.DataDirectory.ShouldBe(Path.GetFullPath("./data"));
        settings.MigrateOnStart.ShouldBeTrue();
        settings.EnabledModules.ShouldBe(Modules);
        settings.OtlpEndpoint.ShouldBeNull();
    }

    [Fact]
    public void Given_postgres_connection_string_Then_provider_is_postgres_and_migrations_wait_for_the_migrate_command()
    {
        var settings = Read(("ConnectionStrings:PostgreSql", "Host=db;Database=mlp"));

        settings.Database.Provider.ShouldBe(DatabaseProvider.PostgreSql);
        settings.MigrateOnStart.ShouldBeFalse();
    }

    [Fact]
    public void Given_comma_separated_modules_Then_only_those_are_enabled_in_catalog_order()
    {
        Read(("Modules:Enabled", "monitoring, Predictions")).EnabledModules.ShouldBe(["Predictions", "Monitoring"]);
    }

    [Theory]
    [InlineData("Database:Provider", "Oracle", "Database:Provider")]
    [InlineData("Database:Provider", "PostgreSql", "ConnectionStrings:PostgreSql")]
    [InlineData("Database:MigrateOnStart", "sometimes", "Database:MigrateOnStart")]
    [InlineData("Modules:Enabled", "Predictions,Billing", "Modules:Enabled")]
    [InlineData("Logging:Format", "xml", "Logging:Format")]
    [InlineData("Observability:Otlp:Endpoint", "not a uri", "Observability:Otlp:Endpoint")]
    [InlineData("ConnectionStrings:PostgreSql", "Host=db;NoSuchKeyword=1", "ConnectionStrings:PostgreSql")]
    public void Given_invalid_setting_Then_reading_fails_naming_the_setting(string key, string value, string named)
    {
        var ex = Should.Throw<InvalidConfigurationException>(() => Read((key, value)));

        ex.Setting.ShouldBe(named);
        ex.Message.ShouldContain(named);
    }
}
