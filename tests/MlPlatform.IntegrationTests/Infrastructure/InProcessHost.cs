using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Host;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// The real host built through <see cref="PlatformHost"/> on a test server, for tests that add a
/// module of their own (WebApplicationFactory runs Program, which loads only the catalog).
/// </summary>
public sealed class InProcessHost : IAsyncDisposable
{
    private InProcessHost(WebApplication app)
    {
        App = app;
        Client = app.GetTestClient();
    }

    public WebApplication App { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => App.Services;

    public static async Task<InProcessHost> StartAsync(
        DatabaseProvider provider,
        string dataDirectory,
        string? postgresConnectionString,
        IEnumerable<IModule> extraModules,
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? testServices = null)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Platform:DataDirectory"] = dataDirectory,
            ["Database:Provider"] = provider.ToString(),
            ["Database:MigrateOnStart"] = "true",
            ["ConnectionStrings:PostgreSql"] = postgresConnectionString ?? string.Empty,
            ["Messaging:Outbox:PollInterval"] = "00:00:00.200",
            ["Scheduler:CheckinInterval"] = "00:00:01",
            ["UserManagement:BootstrapAdmin:Username"] = TestUsers.AdminName,
            ["UserManagement:BootstrapAdmin:Password"] = TestUsers.AdminPassword,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var args = values.Select(kv => $"--{kv.Key}={kv.Value}").ToArray();
        var app = PlatformHost.Build(
            args,
            builder =>
            {
                builder.WebHost.UseTestServer();
                if (testServices is not null)
                {
                    // Applied when the container is built, after the host's own registrations (and
                    // whatever service provider options the host chose), so a test can replace a
                    // singleton such as the TimeProvider.
                    builder.Host.ConfigureContainer<IServiceCollection>((_, services) => testServices(services));
                }
            },
            extraModules);
        await PlatformHost.PrepareAsync(app);
        await app.StartAsync();
        return new InProcessHost(app);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
