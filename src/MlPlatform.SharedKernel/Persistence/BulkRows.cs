using System.Collections;
using System.Data.Common;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Metadata;
using Microsoft.EntityFrameworkCore.Storage;
using Npgsql;
using NpgsqlTypes;

namespace MlPlatform.SharedKernel.Persistence;

/// <summary>
/// Inserts many new rows of one entity type without the change tracker, on the context's connection
/// and in its current transaction: binary <c>COPY</c> on PostgreSQL, one prepared <c>INSERT</c> run
/// per row on SQLite. Columns, names and value conversions come from the EF model, so the rows are
/// the ones <c>SaveChanges</c> would have written. Tracking ten thousand entities costs seconds of
/// CPU; this costs tens of milliseconds.
/// </summary>
public static class BulkRows
{
    public static async Task InsertAsync(DbContext db, Type entityType, IList rows, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(entityType);
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count == 0)
        {
            return;
        }

        var entity = db.Model.FindEntityType(entityType) ?? throw new InvalidOperationException($"{entityType.Name} is not an entity of {db.GetType().Name}.");
        var table = StoreObjectIdentifier.Table(entity.GetTableName()!, entity.GetSchema());
        var columns = entity.GetProperties()
            .Select(p => new Column(p, p.GetColumnName(table)!, p.GetRelationalTypeMapping()))
            .ToList();
        var sql = db.GetService<ISqlGenerationHelper>();
        var target = sql.DelimitIdentifier(table.Name, table.Schema);
        var names = string.Join(", ", columns.Select(c => sql.DelimitIdentifier(c.Name)));
        var connection = db.Database.GetDbConnection();
        if (connection.State != System.Data.ConnectionState.Open)
        {
            throw new InvalidOperationException("Bulk rows are written inside the caller's transaction, on an open connection.");
        }

        if (connection is NpgsqlConnection npgsql)
        {
            await CopyAsync(npgsql, $"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)", columns, rows, cancellationToken);
        }
        else
        {
            await InsertEachAsync(db, connection, $"INSERT INTO {target} ({names}) VALUES ({string.Join(", ", columns.Select((_, i) => "@p" + i))})", columns, rows, cancellationToken);
        }
    }

    private sealed record Column(IProperty Property, string Name, RelationalTypeMapping Mapping)
    {
        // EF's compiled accessor: reflection per value costs more than the COPY itself on a wide start.
        private readonly IClrPropertyGetter _getter = Property.GetGetter();

        public object? ProviderValue(object row)
        {
            var value = _getter.GetClrValueUsingContainingEntity(row);
            return value is null || Mapping.Converter is not { } converter ? value : converter.ConvertToProvider(value);
        }
    }

    private static async Task CopyAsync(NpgsqlConnection connection, string copy, List<Column> columns, IList rows, CancellationToken cancellationToken)
    {
        await using var writer = await connection.BeginBinaryImportAsync(copy, cancellationToken);
        foreach (var row in rows)
        {
            await writer.StartRowAsync(cancellationToken);
            foreach (var column in columns)
            {
                await WriteAsync(writer, column.ProviderValue(row!), cancellationToken);
            }
        }

        await writer.CompleteAsync(cancellationToken);
    }

    private static Task WriteAsync(NpgsqlBinaryImporter writer, object? value, CancellationToken cancellationToken) => value switch
    {
        null => writer.WriteNullAsync(cancellationToken),
        Guid guid => writer.WriteAsync(guid, NpgsqlDbType.Uuid, cancellationToken),
        string text => writer.WriteAsync(text, NpgsqlDbType.Text, cancellationToken),
        int number => writer.WriteAsync(number, NpgsqlDbType.Integer, cancellationToken),
        long number => writer.WriteAsync(number, NpgsqlDbType.Bigint, cancellationToken),
        bool flag => writer.WriteAsync(flag, NpgsqlDbType.Boolean, cancellationToken),
        double number => writer.WriteAsync(number, NpgsqlDbType.Double, cancellationToken),
        DateTimeOffset at => writer.WriteAsync(at.ToUniversalTime(), NpgsqlDbType.TimestampTz, cancellationToken),
        _ => throw new NotSupportedException($"Bulk rows cannot write a {value.GetType().Name} column yet."),
    };

    private static async Task InsertEachAsync(DbContext db, DbConnection connection, string insert, List<Column> columns, IList rows, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = insert;
        command.Transaction = db.Database.CurrentTransaction?.GetDbTransaction();
        var parameters = columns.Select((c, i) => c.Mapping.CreateParameter(command, "@p" + i, null, c.Property.IsNullable)).ToArray();
        command.Parameters.AddRange(parameters);
        await command.PrepareAsync(cancellationToken);
        foreach (var row in rows)
        {
            for (var i = 0; i < columns.Count; i++)
            {
                parameters[i].Value = columns[i].ProviderValue(row!) ?? DBNull.Value;
            }

            // SQLite runs in-process: its async methods only wrap the synchronous ones in a task.
            cancellationToken.ThrowIfCancellationRequested();
            command.ExecuteNonQuery();
        }
    }
}
