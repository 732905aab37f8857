using System.Collections;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage.ValueConversion;
using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.SharedKernel.Persistence;

/// <summary>
/// Base for every module's DbContext: the module's schema, snake_case names, UTC times that sort
/// on SQLite too, and the outbox and inbox tables that the integration-event bus needs.
/// </summary>
public abstract class ModuleDbContext(DbContextOptions options) : DbContext(options)
{
    /// <summary>The schema this context owns.</summary>
    public abstract string Schema { get; }

    public DbSet<OutboxMessage> OutboxMessages => Set<OutboxMessage>();

    public DbSet<InboxMessage> InboxMessages => Set<InboxMessage>();

    /// <summary>An integration event was added since the outbox dispatcher was last woken for this context.</summary>
    internal bool OutboxWritten { get; set; }

    /// <summary>New rows written by the next <see cref="SaveChangesAsync(bool, CancellationToken)"/> without tracking, in the order added.</summary>
    private List<(Type Type, IList Rows)>? _bulk;

    /// <summary>
    /// Adds many new rows to be inserted by the next <see cref="SaveChangesAsync(bool, CancellationToken)"/>,
    /// after the tracked changes (so they may refer to tracked rows) and in the same transaction,
    /// without the change tracker's cost per entity (<see cref="BulkRows"/>). The rows are not tracked afterwards.
    /// </summary>
    public void AddBulk<T>(List<T> rows)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count > 0)
        {
            (_bulk ??= []).Add((typeof(T), rows));
        }
    }

    public override async Task<int> SaveChangesAsync(bool acceptAllChangesOnSuccess, CancellationToken cancellationToken = default)
    {
        if (_bulk is not { } bulk)
        {
            return await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
        }

        var own = Database.CurrentTransaction is null ? await Database.BeginTransactionAsync(cancellationToken) : null;
        try
        {
            var written = await base.SaveChangesAsync(acceptAllChangesOnSuccess, cancellationToken);
            foreach (var (type, rows) in bulk)
            {
                await BulkRows.InsertAsync(this, type, rows, cancellationToken);
                written += rows.Count;
            }

            if (own is not null)
            {
                await own.CommitAsync(cancellationToken);
            }

            return written;
        }
        finally
        {
            // Written or rolled back with the transaction: either way not to be written again.
            _bulk = null;
            if (own is not null)
            {
                await own.DisposeAsync();
            }
        }
    }

    public override int SaveChanges(bool acceptAllChangesOnSuccess) =>
        _bulk is null ? base.SaveChanges(acceptAllChangesOnSuccess) : throw new InvalidOperationException("Rows added with AddBulk are saved by SaveChangesAsync.");

    // Pooled contexts are reused: rows added but never saved must not reach the next user.
    public override void Dispose()
    {
        _bulk = null;
        OutboxWritten = false;
        base.Dispose();
    }

    public override ValueTask DisposeAsync()
    {
        _bulk = null;
        OutboxWritten = false;
        return base.DisposeAsync();
    }

    protected sealed override void OnModelCreating(ModelBuilder modelBuilder)
    {
        // SQLite has no schemas; each module has its own file there instead.
        if (!Database.IsSqlite())
        {
            modelBuilder.HasDefaultSchema(Schema);
        }

        modelBuilder.ApplyConfiguration(new OutboxMessageConfiguration());
        modelBuilder.ApplyConfiguration(new InboxMessageConfiguration());
        // A module's entity configurations sit beside its entities, in the module's assembly.
        var assembly = GetType().Assembly;
        if (assembly.GetTypes().Any(IsEntityConfiguration))
        {
            modelBuilder.ApplyConfigurationsFromAssembly(assembly);
        }

        ConfigureModel(modelBuilder);
        SnakeCaseNames.Apply(modelBuilder);
    }

    /// <summary>For model configuration that is not an <see cref="IEntityTypeConfiguration{TEntity}"/>.</summary>
    protected virtual void ConfigureModel(ModelBuilder modelBuilder)
    {
    }

    private static bool IsEntityConfiguration(Type type) =>
        type is { IsAbstract: false, IsGenericTypeDefinition: false }
        && type.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEntityTypeConfiguration<>));

    protected override void ConfigureConventions(ModelConfigurationBuilder configurationBuilder)
    {
        if (Database.IsSqlite())
        {
            // SQLite cannot compare or order DateTimeOffset text; the binary form sorts as UTC ticks.
            configurationBuilder.Properties<DateTimeOffset>().HaveConversion<DateTimeOffsetToBinaryConverter>();
            configurationBuilder.Properties<DateTimeOffset?>().HaveConversion<DateTimeOffsetToBinaryConverter>();
        }
    }
}

internal static class SnakeCaseNames
{
    public static void Apply(ModelBuilder modelBuilder)
    {
        foreach (var entity in modelBuilder.Model.GetEntityTypes())
        {
            if (entity.GetTableName() is { } table && !entity.IsOwned())
            {
                entity.SetTableName(ToSnakeCase(table));
            }

            foreach (var property in entity.GetProperties())
            {
                property.SetColumnName(ToSnakeCase(property.GetColumnName()));
            }

            foreach (var key in entity.GetKeys())
            {
                key.SetName(ToSnakeCase(key.GetName()!));
            }

            foreach (var foreignKey in entity.GetForeignKeys())
            {
                foreignKey.SetConstraintName(ToSnakeCase(foreignKey.GetConstraintName()!));
            }

            foreach (var index in entity.GetIndexes())
            {
                index.SetDatabaseName(ToSnakeCase(index.GetDatabaseName()!));
            }
        }
    }

    public static string ToSnakeCase(string name)
    {
        var builder = new StringBuilder(name.Length + 8);
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsUpper(c))
            {
                var previousIsLowerOrDigit = i > 0 && (char.IsLower(name[i - 1]) || char.IsDigit(name[i - 1]));
                var nextIsLower = i + 1 < name.Length && char.IsLower(name[i + 1]);
                var previousIsUpper = i > 0 && char.IsUpper(name[i - 1]);
                if (i > 0 && name[i - 1] != '_' && (previousIsLowerOrDigit || (previousIsUpper && nextIsLower)))
                {
                    builder.Append('_');
                }

                builder.Append(char.ToLowerInvariant(c));
            }
            else
            {
                builder.Append(c);
            }
        }

        return builder.ToString();
    }
}
