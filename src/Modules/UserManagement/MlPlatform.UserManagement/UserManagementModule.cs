using MlPlatform.UserManagement.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.UserManagement;

public sealed class UserManagementModule : Module<UserManagementDbContext>
{
    public override string Name => "UserManagement";

    public override string Schema => UserManagementDbContext.SchemaName;
}
