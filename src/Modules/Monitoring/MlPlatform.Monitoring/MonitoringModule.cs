using MlPlatform.Monitoring.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.Monitoring;

public sealed class MonitoringModule : Module<MonitoringDbContext>
{
    public override string Name => "Monitoring";

    public override string Schema => MonitoringDbContext.SchemaName;
}
