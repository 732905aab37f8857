using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Monitoring.Persistence;

public sealed class MonitoringDbContext(DbContextOptions<MonitoringDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "monitoring";

    public override string Schema => SchemaName;
}
