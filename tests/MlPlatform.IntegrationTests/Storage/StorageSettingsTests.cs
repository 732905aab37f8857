using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Storage;

public sealed class StorageSettingsTests
{
    private static readonly Dictionary<string, string?> ValidS3 = new()
    {
        ["Storage:Provider"] = "S3",
        ["Storage:S3:ServiceUrl"] = "http://127.0.0.1:4568",
        ["Storage:S3:Bucket"] = "mlplatform-artifacts",
        ["Storage:S3:AccessKey"] = "key",
        ["Storage:S3:SecretKey"] = "secret",
    };

    [Theory]
    [InlineData("Storage:Provider", "Azure", "Storage:Provider")]
    [InlineData("Storage:S3:Bucket", "", "Storage:S3:Bucket")]
    [InlineData("Storage:S3:Bucket", "Not_A_Bucket", "Storage:S3:Bucket")]
    [InlineData("Storage:S3:ServiceUrl", "not a url", "Storage:S3:ServiceUrl")]
    [InlineData("Storage:S3:ServiceUrl", "ftp://files.example.com", "Storage:S3:ServiceUrl")]
    [InlineData("Storage:S3:PartSizeBytes", "1048576", "Storage:S3:PartSizeBytes")]
    [InlineData("Storage:S3:PartSizeBytes", "8MB", "Storage:S3:PartSizeBytes")]
    [InlineData("Storage:S3:PartSizeBytes", "99999999999", "Storage:S3:PartSizeBytes")]
    [InlineData("Storage:S3:MaxRetries", "three", "Storage:S3:MaxRetries")]
    [InlineData("Storage:S3:MaxRetries", "-1", "Storage:S3:MaxRetries")]
    [InlineData("Storage:S3:Timeout", "soon", "Storage:S3:Timeout")]
    [InlineData("Storage:S3:Timeout", "00:00:00", "Storage:S3:Timeout")]
    [InlineData("Storage:S3:ForcePathStyle", "yes", "Storage:S3:ForcePathStyle")]
    [InlineData("Storage:S3:CreateBucket", "maybe", "Storage:S3:CreateBucket")]
    [InlineData("Storage:S3:SecretKey", "", "Storage:S3:SecretKey")]
    [InlineData("Storage:S3:Prefix", "team/../other", "Storage:S3:Prefix")]
    public void Given_invalid_storage_setting_When_registered_Then_start_up_fails_naming_the_setting(string setting, string value, string expected)
    {
        var configuration = Configuration(new Dictionary<string, string?>(ValidS3) { [setting] = value });

        var ex = Should.Throw<InvalidConfigurationException>(() => new ServiceCollection().AddObjectStore(configuration, Path.GetTempPath()));

        ex.Setting.ShouldBe(expected);
        ex.Message.ShouldContain(expected);
    }

    [Fact]
    public void Given_valid_s3_settings_When_registered_Then_s3_store_is_built_without_contacting_s3()
    {
        // A closed port: building the store must not need the server (start-up survives an S3 outage).
        var configuration = Configuration(new Dictionary<string, string?>(ValidS3)
        {
            ["Storage:S3:ServiceUrl"] = "http://127.0.0.1:1",
            ["Storage:S3:CreateBucket"] = "true",
            ["Storage:S3:PartSizeBytes"] = "5242880",
            ["Storage:S3:Timeout"] = "00:00:05",
            ["Storage:S3:MaxRetries"] = "0",
            ["Storage:S3:Prefix"] = "/prod/",
        });

        using var provider = new ServiceCollection().AddObjectStore(configuration, Path.GetTempPath()).BuildServiceProvider();
        var store = provider.GetRequiredService<IObjectStore>();

        store.Backend.ShouldBe("s3");
        store.UriOf("a.bin").ToString().ShouldBe("s3://mlplatform-artifacts/prod/a.bin");
        var settings = provider.GetRequiredService<S3StoreSettings>();
        settings.PartSizeBytes.ShouldBe(5 * 1024 * 1024);
        settings.Timeout.ShouldBe(TimeSpan.FromSeconds(5));
        settings.ToString().ShouldNotContain("secret");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("local")]
    public void Given_no_or_local_provider_When_registered_Then_local_store_under_the_data_directory(string? provider)
    {
        var data = Path.Combine(Path.GetTempPath(), "mlp-settings-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var configuration = Configuration(new Dictionary<string, string?> { ["Storage:Provider"] = provider });

            using var services = new ServiceCollection().AddObjectStore(configuration, data).BuildServiceProvider();
            var store = services.GetRequiredService<IObjectStore>();

            store.Backend.ShouldBe("local");
            store.UriOf("a.bin").LocalPath.ShouldBe(Path.Combine(data, "artifacts", "a.bin"));
        }
        finally
        {
            if (Directory.Exists(data))
            {
                Directory.Delete(data, recursive: true);
            }
        }
    }

    [Fact]
    public void Given_appsettings_When_read_Then_storage_section_lists_every_s3_setting_with_a_valid_default()
    {
        var appsettings = Path.Combine(RepositoryRoot(), "appsettings.json");
        var configuration = new ConfigurationBuilder().AddJsonFile(appsettings).Build();
        var section = configuration.GetSection("Storage:S3");

        section.GetChildren().Select(c => c.Key).Order().ShouldBe(
            ["AccessKey", "Bucket", "CreateBucket", "ForcePathStyle", "MaxRetries", "PartSizeBytes", "Prefix", "Region", "SecretKey", "ServiceUrl", "Timeout"]);
        var defaults = S3StoreSettings.Read(configuration);
        defaults.PartSizeBytes.ShouldBe(8 * 1024 * 1024);
        defaults.MaxRetries.ShouldBe(3);
        defaults.Timeout.ShouldBe(TimeSpan.FromSeconds(100));
        configuration["Storage:Provider"].ShouldBe("Local");
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "MlPlatform.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("MlPlatform.sln not found above " + AppContext.BaseDirectory);
    }
}
