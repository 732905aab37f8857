using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;
using MlPlatform.Host;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.UnitTests.Persistence;

/// <summary>A model change without a migration fails here, for each provider and module.</summary>
public sealed class MigrationsTests
{
    public static TheoryData<string, string> ModulesByProvider()
    {
        var data = new TheoryData<string, string>();
        foreach (var provider in new[] { DatabaseSettings.SqliteMigrationsAssembly, DatabaseSettings.PostgreSqlMigrationsAssembly })
        {
            foreach (var module in ModuleCatalog.All)
            {
                data.Add(provider, module.Name);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ModulesByProvider))]
    public void Given_module_model_Then_migrations_of_provider_are_up_to_date(string migrationsAssembly, string moduleName)
    {
        var module = ModuleCatalog.All.Single(m => m.Name == moduleName);
        using var db = DesignTimeContexts.Create(migrationsAssembly, module.DbContextType!);

        db.Database.GetMigrations().ShouldNotBeEmpty($"{moduleName} has no migrations in {migrationsAssembly}");
        db.Database.HasPendingModelChanges().ShouldBeFalse(
            $"{moduleName}'s model changed without a migration in {migrationsAssembly}: run scripts/add-migration.sh {moduleName} <Name>");
    }
}

internal static class DesignTimeContexts
{
    /// <summary>Builds a context through the migrations project's own design-time factory, as dotnet-ef does.</summary>
    public static DbContext Create(string migrationsAssembly, Type contextType)
    {
        var assembly = System.Reflection.Assembly.Load(migrationsAssembly);
        var factoryInterface = typeof(IDesignTimeDbContextFactory<>).MakeGenericType(contextType);
        var factoryType = assembly.GetTypes().SingleOrDefault(t => factoryInterface.IsAssignableFrom(t))
            ?? throw new InvalidOperationException($"{migrationsAssembly} has no design-time factory for {contextType.Name}.");
        var factory = Activator.CreateInstance(factoryType)!;
        return (DbContext)factoryInterface.GetMethod("CreateDbContext")!.Invoke(factory, [Array.Empty<string>()])!;
    }
}
