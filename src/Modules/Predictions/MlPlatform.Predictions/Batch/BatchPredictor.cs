using System.Globalization;
using System.Text;
using System.Text.Json;
using MlPlatform.Predictions.Inference;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.Predictions.Batch;

/// <summary>Progress of a batch run: rows predicted and bytes of the input read so far.</summary>
/// <param name="Written">The last report: the output object has been written.</param>
public readonly record struct BatchProgress(long Rows, long BytesRead, long InputBytes, bool Written = false);

/// <summary>
/// Predicts every row of a CSV (header row, RFC 4180) or JSON-lines object and writes the answers
/// as the same format, streaming: rows are read, predicted and written in chunks, so memory does not
/// grow with the file. Rows map onto the model's inputs like the /predict API's instances.
/// </summary>
public sealed class BatchPredictor(IObjectStore store, PredictionsSettings settings)
{
    public const int ChunkRows = 256;

    public static bool IsCsv(string key) => key.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// The keys are well formed, name .csv or .jsonl objects, and lie in the project's own areas of the
    /// store (<see cref="ProjectAreas"/>): read from its readable areas, written to its writable ones
    /// (not its dataset versions or model files). Another project's object reads as missing (404).
    /// </summary>
    public static void CheckKeys(string input, string output, Guid projectId, string? projectName, Guid? runId)
    {
        try
        {
            ObjectKey.Validate(input);
            ObjectKey.Validate(output);
        }
        catch (InvalidObjectKeyException ex)
        {
            throw new BadRequestException(ex.Message);
        }

        var areas = new ProjectAreas(projectId, projectName, runId);
        if (!areas.CanRead(input))
        {
            throw new NotFoundException("Object", input);
        }

        if (!areas.CanWrite(output))
        {
            throw new BadRequestException($"The output '{output}' is outside this project's area of the store: name a key under {string.Join(", ", areas.Writable)}.");
        }

        foreach (var key in new[] { input, output })
        {
            if (!IsCsv(key) && !key.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) && !key.EndsWith(".ndjson", StringComparison.OrdinalIgnoreCase))
            {
                throw new BadRequestException($"'{key}': batch predictions read and write .csv or .jsonl (.ndjson) objects.");
            }
        }

        if (input == output)
        {
            throw new BadRequestException("The output must be another object than the input.");
        }
    }

    public async Task<long> RunAsync(VariantRuntime variant, string inputKey, string outputKey, Func<BatchProgress, Task> progress, CancellationToken cancellationToken)
    {
        var info = await store.GetInfoAsync(inputKey, cancellationToken) ?? throw new NotFoundException("Object", inputKey);
        var temp = Path.Combine(Path.GetTempPath(), "mlp-batch-" + Guid.NewGuid().ToString("N") + ".part");
        long rows = 0;
        try
        {
            await using (var source = await store.OpenReadAsync(inputKey, cancellationToken))
            await using (var counting = new CountingStream(source))
            using (var reader = new StreamReader(counting, Encoding.UTF8))
            await using (var output = new StreamWriter(File.Create(temp), new UTF8Encoding(false)))
            {
                var csvIn = IsCsv(inputKey);
                var csvOut = IsCsv(outputKey);
                string[]? header = null;
                if (csvIn)
                {
                    header = await CsvReader.ReadRecordAsync(reader) ?? throw new BadRequestException($"'{inputKey}' is empty: a CSV needs a header row.");
                }

                var headerWritten = false;
                var chunk = new List<JsonElement>(ChunkRows);
                while (true)
                {
                    // Reading and predicting a chunk take no token of their own (a loaded model is acquired
                    // without waiting): a cancelled run or step stops here, before the next chunk.
                    cancellationToken.ThrowIfCancellationRequested();
                    chunk.Clear();
                    while (chunk.Count < ChunkRows)
                    {
                        JsonElement? row = csvIn ? await NextCsvRowAsync(reader, header!, variant.Signature, variant.FeatureNames, rows + chunk.Count) : await NextJsonRowAsync(reader, rows + chunk.Count);
                        if (row is null)
                        {
                            break;
                        }

                        chunk.Add(row.Value);
                    }

                    if (chunk.Count == 0)
                    {
                        break;
                    }

                    var outputs = await PredictAsync(variant, chunk, cancellationToken);
                    if (csvOut && !headerWritten)
                    {
                        await output.WriteLineAsync(string.Join(",", CsvColumns(outputs, chunk.Count).Select(CsvReader.Quote)));
                        headerWritten = true;
                    }

                    for (var r = 0; r < chunk.Count; r++)
                    {
                        await output.WriteLineAsync(csvOut ? CsvLine(outputs, chunk.Count, r) : JsonLine(outputs, chunk.Count, r, rows + r));
                    }

                    rows += chunk.Count;
                    await progress(new BatchProgress(rows, counting.Position, info.Size));
                }
            }

            await using (var file = File.OpenRead(temp))
            {
                await store.PutAsync(outputKey, file, IsCsv(outputKey) ? "text/csv" : "application/x-ndjson", cancellationToken);
            }

            await progress(new BatchProgress(rows, info.Size, info.Size, Written: true));
            return rows;
        }
        finally
        {
            File.Delete(temp);
        }
    }

    private async Task<TensorData[]> PredictAsync(VariantRuntime variant, List<JsonElement> chunk, CancellationToken cancellationToken)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(new { instances = chunk });
        var inputs = PredictApi.ToInputs(body, variant.Signature, variant.FeatureNames);
        TensorBinding.Validate(variant.Signature, inputs, settings.RejectNonFinite);
        var model = await variant.AcquireAsync(cancellationToken);
        try
        {
            return InferenceRunner.Run(model, inputs, null);
        }
        finally
        {
            model.Release();
        }
    }

    private static async Task<JsonElement?> NextJsonRowAsync(StreamReader reader, long row)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            try
            {
                using var document = JsonDocument.Parse(line);
                return document.RootElement.Clone();
            }
            catch (JsonException ex)
            {
                throw new BadRequestException($"Line for row {row} is not JSON: {ex.Message}");
            }
        }

        return null;
    }

    /// <summary>A CSV record as an instance: numeric columns as numbers for numeric inputs, the rest as text.</summary>
    private static async Task<JsonElement?> NextCsvRowAsync(StreamReader reader, string[] header, ModelSignature signature, IReadOnlyList<string>? featureNames, long row)
    {
        var record = await CsvReader.ReadRecordAsync(reader);
        while (record is { Length: 1 } && record[0].Length == 0)
        {
            record = await CsvReader.ReadRecordAsync(reader);
        }

        if (record is null)
        {
            return null;
        }

        if (record.Length != header.Length)
        {
            throw new BadRequestException($"CSV row {row + 1} has {record.Length} fields; the header has {header.Length}.");
        }

        var inputs = signature.Inputs.Where(i => i.Name != PredictApi.LabelInput).ToList();
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            var byName = header.All(h => signature.Input(h) is not null || featureNames?.Contains(h) == true || h == PredictApi.LabelInput);
            if (!byName && inputs.Count == 1)
            {
                // Columns in order fill the one vector input.
                writer.WriteStartArray();
                foreach (var value in record)
                {
                    WriteCell(writer, value, inputs[0].Datatype, row);
                }

                writer.WriteEndArray();
            }
            else
            {
                writer.WriteStartObject();
                for (var i = 0; i < header.Length; i++)
                {
                    var spec = signature.Input(header[i]);
                    if (spec is null && featureNames?.Contains(header[i]) != true)
                    {
                        continue; // A column the model does not take (an id, the label) is skipped.
                    }

                    writer.WritePropertyName(header[i]);
                    WriteCell(writer, record[i], spec?.Datatype ?? inputs[0].Datatype, row);
                }

                writer.WriteEndObject();
            }
        }

        using var document = JsonDocument.Parse(buffer.ToArray());
        return document.RootElement.Clone();
    }

    private static void WriteCell(Utf8JsonWriter writer, string value, string datatype, long row)
    {
        switch (datatype)
        {
            case Datatypes.Bytes:
                writer.WriteStringValue(value);
                break;
            case Datatypes.Bool:
                writer.WriteBooleanValue(value is "1" or "true" or "True" or "TRUE");
                break;
            default:
                if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
                {
                    throw new BadRequestException($"CSV row {row + 1}: '{(value.Length > 40 ? value[..40] + "…" : value)}' is not a number.");
                }

                writer.WriteNumberValue(number);
                break;
        }
    }

    private static IEnumerable<string> CsvColumns(TensorData[] outputs, int rows)
    {
        foreach (var o in outputs.Where(o => o.Shape.Length > 0 && o.Shape[0] == rows))
        {
            var width = o.Data.Length / rows;
            if (width == 1)
            {
                yield return o.Name;
            }
            else
            {
                for (var i = 0; i < width; i++)
                {
                    yield return $"{o.Name}_{i}";
                }
            }
        }
    }

    private static string CsvLine(TensorData[] outputs, int rows, int r)
    {
        var cells = new List<string>();
        foreach (var o in outputs.Where(o => o.Shape.Length > 0 && o.Shape[0] == rows))
        {
            var width = o.Data.Length / rows;
            for (var i = 0; i < width; i++)
            {
                cells.Add(CsvReader.Quote(Format(o.Data, r * width + i)));
            }
        }

        return string.Join(",", cells);
    }

    private static string JsonLine(TensorData[] outputs, int rows, int r, long rowNumber)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("row", rowNumber);
            foreach (var o in outputs.Where(o => o.Shape.Length > 0 && o.Shape[0] == rows))
            {
                var width = o.Data.Length / rows;
                writer.WritePropertyName(o.Name);
                if (width == 1)
                {
                    writer.WriteRawValue(Json(o.Data, r));
                }
                else
                {
                    writer.WriteStartArray();
                    for (var i = 0; i < width; i++)
                    {
                        writer.WriteRawValue(Json(o.Data, r * width + i));
                    }

                    writer.WriteEndArray();
                }
            }

            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static string Format(Array data, int i) => data switch
    {
        float[] f => f[i].ToString("R", CultureInfo.InvariantCulture),
        double[] d => d[i].ToString("R", CultureInfo.InvariantCulture),
        int[] x when TensorValues.Is<int>(data) => x[i].ToString(CultureInfo.InvariantCulture),
        long[] l when TensorValues.Is<long>(data) => l[i].ToString(CultureInfo.InvariantCulture),
        uint[] or ulong[] or sbyte[] or byte[] or short[] or ushort[] => Convert.ToString(data.GetValue(i), CultureInfo.InvariantCulture) ?? string.Empty,
        bool[] b => b[i] ? "true" : "false",
        string[] s => s[i],
        _ => TensorValues.ToDouble(data, i) is var x && double.IsFinite(x) ? x.ToString("R", CultureInfo.InvariantCulture) : "NaN",
    };

    private static string Json(Array data, int i) => data switch
    {
        float[] f when !float.IsFinite(f[i]) => "null",
        double[] d when !double.IsFinite(d[i]) => "null",
        Microsoft.ML.OnnxRuntime.Float16[] or Microsoft.ML.OnnxRuntime.BFloat16[] when !double.IsFinite(TensorValues.ToDouble(data, i)) => "null",
        string[] s => JsonSerializer.Serialize(s[i]),
        _ => Format(data, i),
    };

    private sealed class CountingStream(Stream inner) : Stream
    {
        private long _position;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => _position; set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = inner.Read(buffer, offset, count);
            _position += n;
            return n;
        }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            _position += n;
            return n;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}

/// <summary>RFC 4180 records: comma-separated, fields optionally in double quotes ("" inside for a quote), records may span lines inside quotes.</summary>
public static class CsvReader
{
    public static async Task<string[]?> ReadRecordAsync(TextReader reader)
    {
        var line = await reader.ReadLineAsync();
        if (line is null)
        {
            return null;
        }

        var fields = new List<string>();
        var field = new StringBuilder();
        var quoted = false;
        var i = 0;
        while (true)
        {
            if (i >= line.Length)
            {
                if (quoted)
                {
                    // The quoted field goes on in the next line.
                    var more = await reader.ReadLineAsync() ?? throw new BadRequestException("The CSV ends inside a quoted field.");
                    field.Append('\n');
                    line = more;
                    i = 0;
                    continue;
                }

                fields.Add(field.ToString());
                return fields.ToArray();
            }

            var c = line[i++];
            if (quoted)
            {
                if (c == '"')
                {
                    if (i < line.Length && line[i] == '"')
                    {
                        field.Append('"');
                        i++;
                    }
                    else
                    {
                        quoted = false;
                    }
                }
                else
                {
                    field.Append(c);
                }
            }
            else if (c == '"' && field.Length == 0)
            {
                quoted = true;
            }
            else if (c == ',')
            {
                fields.Add(field.ToString());
                field.Clear();
            }
            else
            {
                field.Append(c);
            }
        }
    }

    public static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
}
