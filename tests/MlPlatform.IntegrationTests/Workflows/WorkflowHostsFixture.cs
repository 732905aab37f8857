using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Workflows;

/// <summary>
/// One host per database provider for a test class, started on first use, with the accounts of
/// <see cref="WorkflowTestAccounts"/>. Tests use their own workflow names, so they can share it.
/// </summary>
public sealed class WorkflowHostsFixture : IAsyncLifetime
{
    public const string AllowedHost = "api.example.com";

    private readonly Dictionary<DatabaseProvider, Task<WorkflowTestAccounts>> _hosts = [];
    private readonly Lock _lock = new();

    public Task<WorkflowTestAccounts> For(DatabaseProvider provider)
    {
        lock (_lock)
        {
            if (!_hosts.TryGetValue(provider, out var host))
            {
                host = StartAsync(provider);
                _hosts[provider] = host;
            }

            return host;
        }
    }

    private static async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider)
    {
        var factory = await PlatformFactory.CreateAsync(provider, new Dictionary<string, string?>
        {
            ["Workflows:Http:AllowedHosts"] = AllowedHost,
        });
        return await WorkflowTestAccounts.CreateAsync(factory);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            if (host.IsCompletedSuccessfully)
            {
                host.Result.Dispose();
                await host.Result.Factory.DisposeAsync();
            }
        }
    }
}
