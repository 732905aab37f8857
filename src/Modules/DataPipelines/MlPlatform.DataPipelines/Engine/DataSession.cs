using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.DataPipelines.Engine;

/// <summary>A column as stored with a version: the platform's type name and DuckDB's, to read it back exactly.</summary>
public sealed record ColumnSchema(string Name, string Type, string EngineType);

/// <summary>
/// One DuckDB in-memory database for one operation, confined to its own working folder: DuckDB may
/// read and write there and nowhere else, and the setting is locked, so an expression a user wrote
/// (a filter, a derived column, a custom rule) cannot reach other files on the host.
/// </summary>
internal sealed class DataSession : IDisposable
{
    private readonly DuckDBConnection _connection;
    private readonly List<IDisposable> _owned = [];

    private DataSession(string workDir, string spillDir, DuckDBConnection connection)
    {
        WorkDir = workDir;
        SpillDir = spillDir;
        _connection = connection;
    }

    public string WorkDir { get; }

    /// <summary>Where DuckDB spills past its memory limit (its <c>temp_directory</c>); removed with the session.</summary>
    public string SpillDir { get; }

    /// <param name="tempRoot">Where the operation's folder goes; the system temp folder by default.</param>
    /// <param name="engine">Memory limit, spill folder and threads; DuckDB's defaults with a spill folder inside the operation's folder when null.</param>
    public static DataSession Open(string? tempRoot = null, EngineSettings? engine = null)
    {
        var root = tempRoot ?? Path.GetTempPath();
        var id = Guid.NewGuid().ToString("N");
        var workDir = Path.Combine(root, "mlp-data-" + id) + Path.DirectorySeparatorChar;
        var spillDir = engine?.TempDirectory is { } temp
            ? Path.Combine(temp, "mlp-spill-" + id) + Path.DirectorySeparatorChar
            : Path.Combine(workDir, "spill") + Path.DirectorySeparatorChar;
        Directory.CreateDirectory(workDir);
        Directory.CreateDirectory(spillDir);
        var connection = new DuckDBConnection("DataSource=:memory:");
        try
        {
            connection.Open();
            var session = new DataSession(workDir, spillDir, connection);
            // Resources first: with lock_configuration nothing can be changed afterwards, by us or by user text.
            if (engine is not null)
            {
                session.Execute($"SET memory_limit={Literal(engine.MemoryLimit)}");
                if (engine.MaxTempDirectorySize is { } maxTemp)
                {
                    session.Execute($"SET max_temp_directory_size={Literal(maxTemp)}");
                }

                if (engine.Threads > 0)
                {
                    session.Execute($"SET threads={engine.Threads.ToString(CultureInfo.InvariantCulture)}");
                }
            }

            session.Execute($"SET temp_directory={Literal(spillDir)}");
            var allowed = spillDir.StartsWith(workDir, StringComparison.Ordinal) ? Literal(workDir) : $"{Literal(workDir)}, {Literal(spillDir)}";
            session.Execute($"SET allowed_directories=[{allowed}]");
            session.Execute("SET enable_external_access=false");
            session.Execute("SET lock_configuration=true");
            return session;
        }
        catch
        {
            connection.Dispose();
            TryDeleteFolder(workDir);
            TryDeleteFolder(spillDir);
            throw;
        }
    }

    /// <summary>Disposed with the session, after DuckDB is closed (a cache lease, for instance).</summary>
    public void Own(IDisposable resource) => _owned.Add(resource);

    /// <summary>A path inside the working folder for a file of this operation.</summary>
    public string PathFor(string fileName) => Path.Combine(WorkDir, fileName);

    public void Execute(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public List<object?[]> Query(string sql, int? maxRows = null)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<object?[]>();
        while (reader.Read() && (maxRows is null || rows.Count < maxRows))
        {
            var values = new object?[reader.FieldCount];
            for (var i = 0; i < reader.FieldCount; i++)
            {
                values[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(values);
        }

        return rows;
    }

    public object? Scalar(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        var value = command.ExecuteScalar();
        return value is DBNull ? null : value;
    }

    /// <summary>The table function that reads a file of the format, with the stored types when known.</summary>
    public static string ReadFunction(string path, string format, IReadOnlyList<ColumnSchema>? columns = null)
    {
        var typed = columns is { Count: > 0 }
            ? ", columns={" + string.Join(", ", columns.Select(c => $"{Literal(c.Name)}: {Literal(c.EngineType)}")) + "}"
            : string.Empty;
        return format switch
        {
            DataFormats.Csv => $"read_csv({Literal(path)}, header=true, delim=',', quote='\"', escape='\"', strict_mode=true{typed})",
            DataFormats.Parquet => $"read_parquet({Literal(path)})",
            DataFormats.JsonLines => $"read_json({Literal(path)}, format='newline_delimited'{typed})",
            _ => throw new BadRequestException($"Unknown format '{format}'."),
        };
    }

    /// <summary>Loads a file into a table (row order kept, so rowid is the data row index).</summary>
    public void Load(string table, string path, string format, IReadOnlyList<ColumnSchema>? columns = null) =>
        Execute($"CREATE OR REPLACE TABLE {Identifier(table)} AS SELECT * FROM {ReadFunction(path, format, columns)}");

    public List<ColumnSchema> Describe(string relation)
    {
        var columns = new List<ColumnSchema>();
        foreach (var row in Query($"DESCRIBE {relation}"))
        {
            var engineType = Convert.ToString(row[1], CultureInfo.InvariantCulture)!;
            columns.Add(new ColumnSchema(Convert.ToString(row[0], CultureInfo.InvariantCulture)!, TypeNames.FromEngine(engineType), engineType));
        }

        return columns;
    }

    public long Count(string relation) => Convert.ToInt64(Scalar($"SELECT count(*) FROM {relation}"), CultureInfo.InvariantCulture);

    /// <summary>A SQL string literal (DuckDB doubles single quotes; backslashes are literal).</summary>
    public static string Literal(string text) => "'" + text.Replace("'", "''", StringComparison.Ordinal) + "'";

    /// <summary>A quoted identifier, safe for any column name.</summary>
    public static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>DuckDB's message without the long reader-settings dump, for problem details.</summary>
    public static string Message(Exception ex)
    {
        var text = ex.Message;
        var cut = text.IndexOf("\n\n", StringComparison.Ordinal);
        var first = (cut > 0 ? text[..cut] : text).Trim();
        var builder = new StringBuilder(first.Length);
        foreach (var line in first.Split('\n'))
        {
            if (line.StartsWith("LINE 1:", StringComparison.Ordinal) || line.StartsWith("Possible Solution", StringComparison.Ordinal))
            {
                break;
            }

            builder.Append(builder.Length > 0 ? " " : string.Empty).Append(line.Trim());
        }

        var message = builder.ToString();
        return message.Length > 500 ? message[..500] + "…" : message;
    }

    public void Dispose()
    {
        _connection.Dispose();
        TryDeleteFolder(WorkDir);
        if (Directory.Exists(SpillDir))
        {
            TryDeleteFolder(SpillDir);
        }

        foreach (var resource in _owned)
        {
            resource.Dispose();
        }

        _owned.Clear();
    }

    private static void TryDeleteFolder(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
            // A left-over temp folder is harmless; the operation's answer must not fail for it.
        }
    }
}

public static class DataFormats
{
    public const string Csv = "csv";
    public const string Parquet = "parquet";
    public const string JsonLines = "jsonl";

    public static readonly IReadOnlyList<string> All = [Csv, Parquet, JsonLines];

    /// <summary>The format named by a parameter, a content type or a file name; null when none says.</summary>
    public static string? Detect(string? format, string? contentType, string? fileName)
    {
        if (!string.IsNullOrEmpty(format))
        {
            var f = format.ToLowerInvariant();
            return f switch
            {
                "csv" => Csv,
                "parquet" => Parquet,
                "jsonl" or "ndjson" or "jsonlines" or "json" => JsonLines,
                _ => throw new BadRequestException($"The format '{format}' is not supported: use csv, parquet or jsonl."),
            };
        }

        var type = contentType?.Split(';')[0].Trim().ToLowerInvariant();
        var byType = type switch
        {
            "text/csv" => Csv,
            "application/vnd.apache.parquet" or "application/x-parquet" => Parquet,
            "application/x-ndjson" or "application/jsonl" or "application/x-jsonlines" => JsonLines,
            _ => null,
        };
        if (byType is not null)
        {
            return byType;
        }

        var extension = Path.GetExtension(fileName ?? string.Empty).ToLowerInvariant();
        return extension switch
        {
            ".csv" => Csv,
            ".parquet" => Parquet,
            ".jsonl" or ".ndjson" => JsonLines,
            _ => null,
        };
    }

    public static string Extension(string format) => format;

    public static string ContentType(string format) => format switch
    {
        Csv => "text/csv",
        Parquet => "application/vnd.apache.parquet",
        _ => "application/x-ndjson",
    };
}

/// <summary>The platform's column types and their DuckDB counterparts.</summary>
public static class TypeNames
{
    public const string Integer = "integer";
    public const string Number = "number";
    public const string Boolean = "boolean";
    public const string String = "string";
    public const string Date = "date";
    public const string Timestamp = "timestamp";

    public static readonly IReadOnlyList<string> All = [Integer, Number, Boolean, String, Date, Timestamp];

    public static string FromEngine(string engineType)
    {
        var t = engineType.ToUpperInvariant();
        if (t is "BIGINT" or "INTEGER" or "SMALLINT" or "TINYINT" or "HUGEINT" or "UBIGINT" or "UINTEGER" or "USMALLINT" or "UTINYINT" or "UHUGEINT")
        {
            return Integer;
        }

        if (t is "DOUBLE" or "FLOAT" or "REAL" || t.StartsWith("DECIMAL", StringComparison.Ordinal))
        {
            return Number;
        }

        if (t == "BOOLEAN")
        {
            return Boolean;
        }

        if (t == "DATE")
        {
            return Date;
        }

        return t.StartsWith("TIMESTAMP", StringComparison.Ordinal) ? Timestamp : String;
    }

    public static string ToEngine(string type) => type switch
    {
        Integer => "BIGINT",
        Number => "DOUBLE",
        Boolean => "BOOLEAN",
        Date => "DATE",
        Timestamp => "TIMESTAMP",
        _ => "VARCHAR",
    };

    public static bool IsNumeric(string type) => type is Integer or Number;
}
