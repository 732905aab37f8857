using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.UserManagement.Persistence;

public sealed class UserManagementDbContext(DbContextOptions<UserManagementDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "user_management";

    public override string Schema => SchemaName;
}
