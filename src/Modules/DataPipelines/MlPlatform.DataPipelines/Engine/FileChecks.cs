using System.Text;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.DataPipelines.Engine;

/// <summary>
/// Checks a file is what its format says before the engine reads it, so a bad file is refused with
/// the line or column at fault: CSV structure (RFC 4180, comma, one field count for every row) and
/// UTF-8 are checked in one streaming pass; Parquet by its magic bytes.
/// </summary>
internal static class FileChecks
{
    public static void Check(string path, string format, CancellationToken cancellationToken = default)
    {
        var size = new FileInfo(path).Length;
        if (size == 0)
        {
            throw new BadRequestException("The file is empty.");
        }

        switch (format)
        {
            case DataFormats.Csv:
                CheckCsv(path, cancellationToken);
                break;
            case DataFormats.Parquet:
                CheckParquet(path, size);
                break;
            case DataFormats.JsonLines:
                CheckJsonLines(path, cancellationToken);
                break;
        }
    }

    private static void CheckParquet(string path, long size)
    {
        using var file = File.OpenRead(path);
        Span<byte> head = stackalloc byte[4];
        Span<byte> tail = stackalloc byte[4];
        if (size < 12 || file.Read(head) != 4)
        {
            throw new UnprocessableException("The file is not Parquet: it is too small to hold the Parquet magic bytes.");
        }

        file.Seek(-4, SeekOrigin.End);
        file.ReadExactly(tail);
        if (!head.SequenceEqual("PAR1"u8) || !tail.SequenceEqual("PAR1"u8))
        {
            throw new UnprocessableException("The file is not Parquet: it does not start and end with the magic bytes 'PAR1'.");
        }
    }

    private static void CheckJsonLines(string path, CancellationToken cancellationToken)
    {
        // The engine names the line of a malformed record; here only the encoding, which it reports less clearly.
        using var file = File.OpenRead(path);
        CheckUtf8(file, (_, _, _) => { }, cancellationToken);
    }

    /// <summary>Streams the file once: valid UTF-8, and the same number of fields on every record.</summary>
    public static void CheckCsv(string path, CancellationToken cancellationToken = default)
    {
        using var file = File.OpenRead(path);
        var inQuotes = false;
        var afterQuote = false;
        var fields = 1;
        var recordHasData = false;
        var expected = -1;
        long line = 1;
        long recordLine = 1;
        var headerNames = new List<string>();
        var headerField = new StringBuilder();
        long records = 0;

        void EndRecord()
        {
            if (expected < 0)
            {
                expected = fields;
                headerNames.Add(headerField.ToString());
                CheckHeader(headerNames);
            }
            else if (fields != expected)
            {
                throw new UnprocessableException($"Line {recordLine}: {fields} fields, but the header has {expected} (ragged CSV row).");
            }

            fields = 1;
            recordHasData = false;
            records++;
        }

        CheckUtf8(file, (buffer, count, _) =>
        {
            for (var i = 0; i < count; i++)
            {
                var b = buffer[i];
                if (inQuotes)
                {
                    if (b == (byte)'"')
                    {
                        inQuotes = false;
                        afterQuote = true;
                    }
                    else if (b == (byte)'\n')
                    {
                        line++;
                    }

                    if (expected < 0 && b != (byte)'"')
                    {
                        headerField.Append((char)b);
                    }

                    continue;
                }

                switch (b)
                {
                    case (byte)'"':
                        if (afterQuote && expected < 0)
                        {
                            headerField.Append('"');
                        }

                        inQuotes = true;
                        afterQuote = false;
                        recordHasData = true;
                        break;
                    case (byte)',':
                        fields++;
                        recordHasData = true;
                        afterQuote = false;
                        if (expected < 0)
                        {
                            headerNames.Add(headerField.ToString());
                            headerField.Clear();
                        }

                        break;
                    case (byte)'\r':
                        break;
                    case (byte)'\n':
                        if (recordHasData || fields > 1 || expected < 0)
                        {
                            EndRecord();
                        }
                        else
                        {
                            // A blank line: a row with one empty field, ragged unless the file has one column.
                            if (expected != 1)
                            {
                                throw new UnprocessableException($"Line {line}: an empty line, but the header has {expected} fields (ragged CSV row).");
                            }
                        }

                        line++;
                        recordLine = line;
                        afterQuote = false;
                        break;
                    default:
                        if (afterQuote)
                        {
                            throw new UnprocessableException($"Line {line}: a character follows a closing quote inside a field (malformed CSV quoting).");
                        }

                        recordHasData = true;
                        if (expected < 0)
                        {
                            headerField.Append((char)b);
                        }

                        break;
                }
            }
        }, cancellationToken);

        if (inQuotes)
        {
            throw new UnprocessableException($"Line {recordLine}: a quoted field is not closed before the end of the file.");
        }

        if (recordHasData || fields > 1)
        {
            EndRecord();
        }

        if (expected < 0)
        {
            throw new BadRequestException("The file is empty.");
        }

        if (records < 2)
        {
            throw new UnprocessableException("The CSV file has a header but no rows.");
        }
    }

    private static void CheckHeader(List<string> names)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < names.Count; i++)
        {
            // Header bytes were collected one by one: decode them as UTF-8 for the message.
            var name = Encoding.UTF8.GetString(names[i].Select(c => (byte)c).ToArray()).Trim();
            if (name.Length == 0)
            {
                throw new UnprocessableException($"Line 1: column {i + 1} of the header has no name.");
            }

            if (!seen.Add(name))
            {
                throw new UnprocessableException($"Line 1: the column name '{name}' appears twice in the header.");
            }
        }
    }

    /// <summary>Reads the stream in chunks, fails at the first invalid UTF-8 sequence with its line, and hands each chunk on.</summary>
    private static void CheckUtf8(Stream stream, Action<byte[], int, long> chunk, CancellationToken cancellationToken)
    {
        var decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetDecoder();
        var buffer = new byte[1 << 16];
        var chars = new char[(1 << 16) + 4];
        long linesBefore = 1;
        long offset = 0;
        int read;
        while ((read = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            // Files run to gigabytes: an abandoned upload or a cancelled step stops here.
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                decoder.Convert(buffer, 0, read, chars, 0, chars.Length, flush: false, out _, out _, out _);
            }
            catch (DecoderFallbackException ex)
            {
                var at = Math.Clamp(ex.Index < 0 ? 0 : ex.Index, 0, read);
                var line = linesBefore + buffer.AsSpan(0, at).Count((byte)'\n');
                throw new UnprocessableException($"Line {line}: the bytes are not valid UTF-8 (encoding error); send the file in UTF-8.");
            }

            chunk(buffer, read, offset);
            linesBefore += buffer.AsSpan(0, read).Count((byte)'\n');
            offset += read;
        }

        try
        {
            decoder.Convert([], 0, 0, chars, 0, chars.Length, flush: true, out _, out _, out _);
        }
        catch (DecoderFallbackException)
        {
            throw new UnprocessableException($"Line {linesBefore}: the file ends inside a UTF-8 sequence (encoding error).");
        }
    }
}
