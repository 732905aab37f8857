using MlPlatform.SharedKernel.Persistence;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.Gateway.Persistence;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.Predictions.Persistence;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Migrations.PostgreSql;

public sealed class UserManagementDesignTimeFactory()
    : DesignTimeDbContextFactory<UserManagementDbContext>(DatabaseProvider.PostgreSql, UserManagementDbContext.SchemaName, o => new(o));

public sealed class GatewayDesignTimeFactory()
    : DesignTimeDbContextFactory<GatewayDbContext>(DatabaseProvider.PostgreSql, GatewayDbContext.SchemaName, o => new(o));

public sealed class WorkflowsDesignTimeFactory()
    : DesignTimeDbContextFactory<WorkflowsDbContext>(DatabaseProvider.PostgreSql, WorkflowsDbContext.SchemaName, o => new(o));

public sealed class ModelRegistryDesignTimeFactory()
    : DesignTimeDbContextFactory<ModelRegistryDbContext>(DatabaseProvider.PostgreSql, ModelRegistryDbContext.SchemaName, o => new(o));

public sealed class DataPipelinesDesignTimeFactory()
    : DesignTimeDbContextFactory<DataPipelinesDbContext>(DatabaseProvider.PostgreSql, DataPipelinesDbContext.SchemaName, o => new(o));

public sealed class PredictionsDesignTimeFactory()
    : DesignTimeDbContextFactory<PredictionsDbContext>(DatabaseProvider.PostgreSql, PredictionsDbContext.SchemaName, o => new(o));

public sealed class MonitoringDesignTimeFactory()
    : DesignTimeDbContextFactory<MonitoringDbContext>(DatabaseProvider.PostgreSql, MonitoringDbContext.SchemaName, o => new(o));
