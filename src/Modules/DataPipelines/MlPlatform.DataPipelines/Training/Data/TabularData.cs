using System.Globalization;
using System.Text;
using System.Text.Json;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training.Data;

internal enum ColumnKind
{
    Numeric,
    Text,
}

/// <summary>
/// A table read whole into memory for training or evaluation: column names, inferred kinds and the
/// cells as text (null when empty). Training sets here are small enough for that; the bad-input
/// cases (missing label, ragged rows, wrong format) fail the step with the line or column named.
/// </summary>
internal sealed class TabularData
{
    private TabularData(IReadOnlyList<string> columns, List<string?[]> rows)
    {
        Columns = columns;
        Rows = rows;
        Kinds = columns.Select((_, i) => InferKind(rows, i)).ToArray();
    }

    public IReadOnlyList<string> Columns { get; }

    public IReadOnlyList<ColumnKind> Kinds { get; }

    public IReadOnlyList<string?[]> Rows { get; }

    public int IndexOf(string column) => Columns.ToList().IndexOf(column);

    public IEnumerable<string?> Values(int column) => Rows.Select(r => r[column]);

    public static float ParseFloat(string? text) =>
        text is null ? float.NaN : float.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>Reads CSV (header row, RFC 4180), JSON lines or Parquet, chosen by the key's extension.</summary>
    public static async Task<TabularData> ReadAsync(IObjectStore store, string key, long maxBytes, CancellationToken cancellationToken)
    {
        ObjectInfo? info;
        try
        {
            info = await store.GetInfoAsync(key, cancellationToken);
        }
        catch (InvalidObjectKeyException ex)
        {
            throw new StepFailedException(ex.Message, retryable: false);
        }

        if (info is null)
        {
            throw new StepFailedException($"The data object '{key}' does not exist in the artifact store.", retryable: false);
        }

        if (info.Size > maxBytes)
        {
            throw new StepFailedException($"The data object '{key}' is {info.Size} bytes, more than the limit of {maxBytes} (Training:MaxDataBytes).", retryable: false);
        }

        if (info.Size == 0)
        {
            throw new StepFailedException($"The data object '{key}' is empty.", retryable: false);
        }

        var lower = key.ToLowerInvariant();
        if (lower.EndsWith(".parquet", StringComparison.Ordinal))
        {
            return await ReadParquetAsync(store, key, cancellationToken);
        }

        await using var stream = await store.OpenReadAsync(key, cancellationToken);
        using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: true), detectEncodingFromByteOrderMarks: true);
        string text;
        try
        {
            text = await reader.ReadToEndAsync(cancellationToken);
        }
        catch (DecoderFallbackException)
        {
            throw new StepFailedException($"The data object '{key}' is not valid UTF-8 text.", retryable: false);
        }

        return lower.EndsWith(".jsonl", StringComparison.Ordinal) || lower.EndsWith(".ndjson", StringComparison.Ordinal) || lower.EndsWith(".json", StringComparison.Ordinal)
            ? ParseJsonLines(key, text)
            : ParseCsv(key, text);
    }

    /// <summary>
    /// Parquet is binary and columnar, so DuckDB reads it (in a session confined to its own folder);
    /// its typed values become the same invariant text the CSV reader yields, so kinds are inferred alike.
    /// </summary>
    private static async Task<TabularData> ReadParquetAsync(IObjectStore store, string key, CancellationToken cancellationToken)
    {
        using var session = DataSession.Open();
        var path = session.PathFor("data.parquet");
        await using (var source = await store.OpenReadAsync(key, cancellationToken))
        await using (var target = File.Create(path))
        {
            await source.CopyToAsync(target, cancellationToken);
        }

        if (!HasParquetMagic(path))
        {
            throw new StepFailedException($"'{key}' is not a Parquet file (no PAR1 magic at its start and end).", retryable: false);
        }

        return ParseParquet(session, path, key, cancellationToken);
    }

    internal static TabularData ParseParquet(DataSession session, string path, string name, CancellationToken cancellationToken)
    {
        List<ColumnSchema> columns;
        List<object?[]> values;
        try
        {
            var relation = DataSession.ReadFunction(path, DataFormats.Parquet);
            columns = session.Describe($"SELECT * FROM {relation}");
            var nested = columns.FirstOrDefault(c => !IsScalar(c.EngineType));
            if (nested is not null)
            {
                throw new StepFailedException($"'{name}': the column '{nested.Name}' is of type {nested.EngineType}; training takes numbers, booleans, text, dates and timestamps.", retryable: false);
            }

            cancellationToken.ThrowIfCancellationRequested();
            values = session.Query($"SELECT * FROM {relation}");
        }
        catch (DuckDB.NET.Data.DuckDBException ex)
        {
            throw new StepFailedException($"'{name}' could not be read as Parquet: {DataSession.Message(ex)}", retryable: false);
        }

        if (values.Count == 0)
        {
            throw new StepFailedException($"'{name}' has no rows.", retryable: false);
        }

        var header = columns.Select(c => c.Name).ToArray();
        CheckHeader(name, header);
        var rows = values.Select(r => r.Select(Text).ToArray()).ToList();
        return new TabularData(header, rows);
    }

    /// <summary>Lists, structs, maps and blobs have no cell text a model could use.</summary>
    private static bool IsScalar(string engineType) =>
        !(engineType.EndsWith(']') || engineType is "BLOB" || engineType.StartsWith("STRUCT", StringComparison.Ordinal)
            || engineType.StartsWith("MAP", StringComparison.Ordinal) || engineType.StartsWith("UNION", StringComparison.Ordinal));

    private static bool HasParquetMagic(string path)
    {
        using var file = File.OpenRead(path);
        if (file.Length < 12)
        {
            return false;
        }

        Span<byte> head = stackalloc byte[4];
        Span<byte> tail = stackalloc byte[4];
        file.ReadExactly(head);
        file.Seek(-4, SeekOrigin.End);
        file.ReadExactly(tail);
        return head.SequenceEqual("PAR1"u8) && tail.SequenceEqual("PAR1"u8);
    }

    /// <summary>A typed cell as the text a CSV would hold: invariant numbers, true/false, ISO dates; null stays null.</summary>
    private static string? Text(object? value) => value switch
    {
        null or DBNull => null,
        string s => s.Length == 0 ? null : s,
        bool b => b ? "true" : "false",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("O", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.ToString("O", CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture),
    };

    internal static TabularData ParseCsv(string name, string text)
    {
        var records = ReadCsvRecords(name, text);
        if (records.Count == 0)
        {
            throw new StepFailedException($"'{name}' has no header row.", retryable: false);
        }

        var header = records[0].Cells.Select(h => h?.Trim() ?? string.Empty).ToArray();
        CheckHeader(name, header);
        var rows = new List<string?[]>(records.Count - 1);
        for (var i = 1; i < records.Count; i++)
        {
            if (records[i].Length != header.Length)
            {
                throw new StepFailedException($"'{name}' line {records[i].Line}: {records[i].Length} fields where the header has {header.Length}.", retryable: false);
            }

            rows.Add(records[i].Cells);
        }

        if (rows.Count == 0)
        {
            throw new StepFailedException($"'{name}' has a header but no rows.", retryable: false);
        }

        return new TabularData(header, rows);
    }

    internal static TabularData ParseJsonLines(string name, string text)
    {
        var columns = new List<string>();
        var objects = new List<(int Line, Dictionary<string, string?> Cells)>();
        var lineNumber = 0;
        foreach (var line in text.Split('\n'))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var cells = new Dictionary<string, string?>(StringComparer.Ordinal);
            try
            {
                using var document = JsonDocument.Parse(line);
                if (document.RootElement.ValueKind != JsonValueKind.Object)
                {
                    throw new StepFailedException($"'{name}' line {lineNumber}: a JSON object was expected.", retryable: false);
                }

                foreach (var property in document.RootElement.EnumerateObject())
                {
                    if (!columns.Contains(property.Name))
                    {
                        columns.Add(property.Name);
                    }

                    cells[property.Name] = property.Value.ValueKind switch
                    {
                        JsonValueKind.Null => null,
                        JsonValueKind.String => property.Value.GetString() is { Length: > 0 } s ? s : null,
                        JsonValueKind.True => "true",
                        JsonValueKind.False => "false",
                        JsonValueKind.Number => property.Value.GetRawText(),
                        _ => throw new StepFailedException($"'{name}' line {lineNumber}: '{property.Name}' is not a scalar.", retryable: false),
                    };
                }
            }
            catch (JsonException ex)
            {
                throw new StepFailedException($"'{name}' line {lineNumber}: not valid JSON ({ex.Message}).", retryable: false);
            }

            objects.Add((lineNumber, cells));
        }

        if (objects.Count == 0)
        {
            throw new StepFailedException($"'{name}' has no rows.", retryable: false);
        }

        CheckHeader(name, columns);
        var rows = objects.Select(o => columns.Select(c => o.Cells.GetValueOrDefault(c)).ToArray()).ToList();
        return new TabularData(columns, rows);
    }

    private static void CheckHeader(string name, IReadOnlyList<string> header)
    {
        for (var i = 0; i < header.Count; i++)
        {
            if (header[i].Length == 0)
            {
                throw new StepFailedException($"'{name}': column {i + 1} of the header has no name.", retryable: false);
            }
        }

        var duplicate = header.GroupBy(h => h, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new StepFailedException($"'{name}': the column '{duplicate.Key}' appears twice in the header.", retryable: false);
        }
    }

    private sealed record CsvRecord(int Line, string?[] Cells)
    {
        public int Length => Cells.Length;
    }

    /// <summary>RFC 4180: comma-separated, fields optionally in double quotes with "" for a quote; CRLF or LF.</summary>
    private static List<CsvRecord> ReadCsvRecords(string name, string text)
    {
        var records = new List<CsvRecord>();
        var cells = new List<string?>();
        var cell = new StringBuilder();
        var line = 1;
        var recordLine = 1;
        var quoted = false;
        var wasQuoted = false;
        var i = 0;
        if (text.Length > 0 && text[0] == '\uFEFF')
        {
            i = 1;
        }

        void EndCell()
        {
            cells.Add(cell.Length == 0 && !wasQuoted ? null : cell.ToString());
            cell.Clear();
            wasQuoted = false;
        }

        void EndRecord()
        {
            EndCell();
            if (!(cells.Count == 1 && cells[0] is null))
            {
                records.Add(new CsvRecord(recordLine, cells.ToArray()));
            }

            cells.Clear();
        }

        for (; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i + 1 < text.Length && text[i + 1] == '"')
                    {
                        cell.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    if (c == '\n')
                    {
                        line++;
                    }

                    cell.Append(c);
                }

                continue;
            }

            switch (c)
            {
                case '"' when cell.Length == 0:
                    quoted = true;
                    wasQuoted = true;
                    break;
                case ',':
                    EndCell();
                    break;
                case '\r' when i + 1 < text.Length && text[i + 1] == '\n':
                    break;
                case '\n' or '\r':
                    EndRecord();
                    line++;
                    recordLine = line;
                    break;
                default:
                    cell.Append(c);
                    break;
            }
        }

        if (quoted)
        {
            throw new StepFailedException($"'{name}' line {recordLine}: a quoted field is not closed.", retryable: false);
        }

        if (cell.Length > 0 || cells.Count > 0 || wasQuoted)
        {
            EndRecord();
        }

        return records;
    }

    /// <summary>Numeric when every non-empty cell parses as a number; text otherwise.</summary>
    private static ColumnKind InferKind(List<string?[]> rows, int column)
    {
        foreach (var row in rows)
        {
            var value = row[column];
            if (value is not null && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                return ColumnKind.Text;
            }
        }

        return ColumnKind.Numeric;
    }
}
