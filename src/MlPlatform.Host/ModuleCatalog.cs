using MlPlatform.DataPipelines;
using MlPlatform.Gateway;
using MlPlatform.ModelRegistry;
using MlPlatform.Monitoring;
using MlPlatform.Predictions;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.UserManagement;
using MlPlatform.Workflows;

namespace MlPlatform.Host;

/// <summary>Every module this binary can run; <c>Modules:Enabled</c> picks a subset.</summary>
public static class ModuleCatalog
{
    public static IReadOnlyList<IModule> All { get; } =
    [
        new UserManagementModule(),
        new GatewayModule(),
        new WorkflowsModule(),
        new ModelRegistryModule(),
        new DataPipelinesModule(),
        new PredictionsModule(),
        new MonitoringModule(),
    ];
}
