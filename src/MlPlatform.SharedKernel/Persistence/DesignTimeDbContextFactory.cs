using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace MlPlatform.SharedKernel.Persistence;

/// <summary>
/// Lets <c>dotnet ef migrations add</c> build a module's context for one provider without
/// starting the host. The connection string is never opened when migrations are generated.
/// </summary>
public abstract class DesignTimeDbContextFactory<TDbContext>(
    DatabaseProvider provider, string schema, Func<DbContextOptions<TDbContext>, TDbContext> create)
    : IDesignTimeDbContextFactory<TDbContext>
    where TDbContext : ModuleDbContext
{
    public TDbContext CreateDbContext(string[] args)
    {
        var settings = new DatabaseSettings(
            provider,
            "Host=localhost;Database=design_time",
            Path.Combine(Path.GetTempPath(), "mlplatform-design-time"));
        return create(PersistenceRegistration.CreateOptions<TDbContext>(settings, schema));
    }
}
