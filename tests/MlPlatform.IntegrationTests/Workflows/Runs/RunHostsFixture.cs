using MlPlatform.IntegrationTests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Contracts.Runs;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>One host per provider with the test step types (<c>test.flaky</c>, <c>test.sleep</c>) and the usual accounts.</summary>
public sealed class RunHostsFixture : IAsyncLifetime
{
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
        // One slot in the "gpu" pool, so pooled steps visibly take turns; the http step may call the tests' local server only.
        var settings = new Dictionary<string, string?>
        {
            ["Workflows:Pools:gpu"] = "1",
            ["Workflows:Pools:wide"] = "3",
            ["Workflows:Http:AllowedHosts"] = "127.0.0.1",
        };
        var factory = await PlatformFactory.CreateAsync(provider, settings: settings, services: services =>
        {
            services.AddStepType<FlakyStep>();
            services.AddStepType<SleepStep>();
            services.AddStepType<CountingStep>();
            services.AddStepType<LogStep>();
            services.AddStepType<HoldStep>();
            services.AddSingleton<RunEventLog>();
            services.AddScoped<IIntegrationEventHandler<RunStarted>>(sp => sp.GetRequiredService<RunEventLog>());
            services.AddScoped<IIntegrationEventHandler<RunSucceeded>>(sp => sp.GetRequiredService<RunEventLog>());
            services.AddScoped<IIntegrationEventHandler<RunFailed>>(sp => sp.GetRequiredService<RunEventLog>());
            services.AddScoped<IIntegrationEventHandler<StepFailed>>(sp => sp.GetRequiredService<RunEventLog>());
            services.AddScoped<IIntegrationEventHandler<ApprovalRequested>>(sp => sp.GetRequiredService<RunEventLog>());
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
