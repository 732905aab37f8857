using MlPlatform.SharedKernel.Persistence;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.Gateway.Persistence;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.Monitoring.Persistence;
using MlPlatform.Predictions.Persistence;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Migrations.Sqlite;

public sealed class UserManagementDesignTimeFactory()
    : DesignTimeDbContextFactory<UserManagementDbContext>(DatabaseProvider.Sqlite, UserManagementDbContext.SchemaName, o => new(o));

public sealed class GatewayDesignTimeFactory()
    : DesignTimeDbContextFactory<GatewayDbContext>(DatabaseProvider.Sqlite, GatewayDbContext.SchemaName, o => new(o));

public sealed class WorkflowsDesignTimeFactory()
    : DesignTimeDbContextFactory<WorkflowsDbContext>(DatabaseProvider.Sqlite, WorkflowsDbContext.SchemaName, o => new(o));

public sealed class ModelRegistryDesignTimeFactory()
    : DesignTimeDbContextFactory<ModelRegistryDbContext>(DatabaseProvider.Sqlite, ModelRegistryDbContext.SchemaName, o => new(o));

public sealed class DataPipelinesDesignTimeFactory()
    : DesignTimeDbContextFactory<DataPipelinesDbContext>(DatabaseProvider.Sqlite, DataPipelinesDbContext.SchemaName, o => new(o));

public sealed class PredictionsDesignTimeFactory()
    : DesignTimeDbContextFactory<PredictionsDbContext>(DatabaseProvider.Sqlite, PredictionsDbContext.SchemaName, o => new(o));

public sealed class MonitoringDesignTimeFactory()
    : DesignTimeDbContextFactory<MonitoringDbContext>(DatabaseProvider.Sqlite, MonitoringDbContext.SchemaName, o => new(o));
