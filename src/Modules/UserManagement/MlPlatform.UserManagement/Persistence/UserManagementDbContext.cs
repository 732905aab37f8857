using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.UserManagement.Domain;

namespace MlPlatform.UserManagement.Persistence;

public sealed class UserManagementDbContext(DbContextOptions<UserManagementDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "user_management";

    public override string Schema => SchemaName;

    public DbSet<User> Users => Set<User>();

    public DbSet<Project> Projects => Set<Project>();

    public DbSet<Membership> Memberships => Set<Membership>();

    public DbSet<ServiceAccount> ServiceAccounts => Set<ServiceAccount>();

    public DbSet<ApiKey> ApiKeys => Set<ApiKey>();

    public DbSet<Session> Sessions => Set<Session>();

    public DbSet<RefreshToken> RefreshTokens => Set<RefreshToken>();

    public DbSet<SigningKey> SigningKeys => Set<SigningKey>();

    public DbSet<AuditEntry> AuditLog => Set<AuditEntry>();
}
