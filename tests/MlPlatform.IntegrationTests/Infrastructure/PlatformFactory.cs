using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// The real host (Program) in memory, on SQLite files in a temporary folder or on a fresh
/// PostgreSQL database, with settings a test can override.
/// </summary>
public sealed class PlatformFactory : WebApplicationFactory<Program>
{
    private readonly Dictionary<string, string?> _settings;
    private readonly PostgresDatabase? _postgres;
    private readonly Action<IServiceCollection>? _services;

    private PlatformFactory(DatabaseProvider provider, string dataDirectory, PostgresDatabase? postgres, IDictionary<string, string?>? settings, Action<IServiceCollection>? services)
    {
        _services = services;
        Provider = provider;
        DataDirectory = dataDirectory;
        _postgres = postgres;
        _settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Platform:DataDirectory"] = dataDirectory,
            ["Database:Provider"] = provider.ToString(),
            ["Database:MigrateOnStart"] = "true",
            ["ConnectionStrings:PostgreSql"] = postgres?.ConnectionString ?? string.Empty,
            ["Messaging:Outbox:PollInterval"] = "00:00:00.200",
            ["Scheduler:CheckinInterval"] = "00:00:01",
            ["UserManagement:BootstrapAdmin:Username"] = TestUsers.AdminName,
            ["UserManagement:BootstrapAdmin:Password"] = TestUsers.AdminPassword,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    public DatabaseProvider Provider { get; }

    public string DataDirectory { get; }

    public string? PostgresConnectionString => _postgres?.ConnectionString;

    /// <param name="services">Test-only services (e.g. step types), added after the host's own.</param>
    public static async Task<PlatformFactory> CreateAsync(DatabaseProvider provider, IDictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-test-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dataDirectory);
        var postgres = provider == DatabaseProvider.PostgreSql ? await PostgresDatabase.CreateAsync() : null;
        return new PlatformFactory(provider, dataDirectory, postgres, settings, services);
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }

        if (_services is not null)
        {
            builder.ConfigureTestServices(_services);
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }
}
