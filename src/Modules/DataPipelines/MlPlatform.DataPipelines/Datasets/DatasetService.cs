using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using DuckDB.NET.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using MlPlatform.DataPipelines.Contracts;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.DataPipelines.Datasets;

public static partial class DatasetRules
{
    /// <summary>Dataset and suite names go into URLs, object keys and refs (<c>name@3</c>).</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,62}\z")]
    public static partial Regex NamePattern();

    public const string NameMessage = "A name is 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.";

    /// <summary>Splits <c>name@3</c> (or <c>name</c>, the latest version).</summary>
    public static (string Name, int? Version) ParseRef(string reference)
    {
        var at = reference.LastIndexOf('@');
        var name = at < 0 ? reference : reference[..at];
        if (!NamePattern().IsMatch(name))
        {
            throw new BadRequestException($"'{reference}' is not a dataset reference: write name@version (e.g. churn@3) or a name for the latest version.");
        }

        if (at < 0)
        {
            return (name, null);
        }

        return int.TryParse(reference[(at + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var version) && version > 0
            ? (name, version)
            : throw new BadRequestException($"'{reference}' is not a dataset reference: the version after '@' is a positive number.");
    }
}

/// <summary>
/// Stores dataset versions: content-hashed (the same bytes in a dataset are one version), checked,
/// schema-inferred or enforced, profiled, then put in the artifact store and recorded with the
/// outbox event in one transaction. Reads versions back into an engine session through a local,
/// content-addressed cache (downloads from S3 happen once per content).
/// </summary>
public sealed partial class DatasetService(
    DataPipelinesDbContext db,
    IObjectStore store,
    DataPipelinesSettings settings,
    DatasetCache cache,
    TimeProvider clock,
    ILogger<DatasetService> logger)
{
    private const int MaxAttempts = 10;

    internal DataSession OpenSession() => DataSession.Open(settings.WorkDirectory, settings.Engine);

    public DateTimeOffset Now()
    {
        var now = clock.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
    }

    public async Task<Dataset> FindAsync(Guid projectId, string name, CancellationToken cancellationToken) =>
        await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.ProjectId == projectId && d.Name == name, cancellationToken)
        ?? throw new NotFoundException("Dataset", name);

    public async Task<Dataset> FindOrCreateAsync(Guid projectId, string projectName, string name, Guid? createdBy, CancellationToken cancellationToken)
    {
        if (!DatasetRules.NamePattern().IsMatch(name))
        {
            throw Quality.Invalid.Field("dataset", DatasetRules.NameMessage);
        }

        var found = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.ProjectId == projectId && d.Name == name, cancellationToken);
        if (found is not null)
        {
            return found;
        }

        var dataset = new Dataset { Id = Guid.CreateVersion7(), ProjectId = projectId, ProjectName = projectName, Name = name, CreatedAt = Now(), CreatedBy = createdBy };
        db.Datasets.Add(dataset);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return dataset;
        }
        catch (DbUpdateException)
        {
            // Created by someone else at the same moment: use theirs.
            db.ChangeTracker.Clear();
            return await FindAsync(projectId, name, cancellationToken);
        }
        finally
        {
            db.ChangeTracker.Clear();
        }
    }

    public async Task<(Dataset Dataset, DatasetVersion Version)> ResolveAsync(Guid projectId, string reference, CancellationToken cancellationToken)
    {
        var (name, number) = DatasetRules.ParseRef(reference);
        var dataset = await FindAsync(projectId, name, cancellationToken);
        var versions = db.DatasetVersions.AsNoTracking().Where(v => v.DatasetId == dataset.Id);
        var version = number is { } n
            ? await versions.SingleOrDefaultAsync(v => v.Version == n, cancellationToken)
            : await versions.OrderByDescending(v => v.Version).FirstOrDefaultAsync(cancellationToken);
        return version is null
            ? throw new NotFoundException("Dataset version", number is null ? $"{name} (no versions yet)" : $"{name}@{number}")
            : (dataset, version);
    }

    public static DatasetRef Ref(Dataset dataset, DatasetVersion version) =>
        new(version.Id, dataset.Name, version.Version, version.ArtifactUri, version.Schema, version.Rows, version.SizeBytes);

    public static List<ColumnSchema> SchemaOf(DatasetVersion version) =>
        JsonSerializer.Deserialize<List<ColumnSchema>>(version.Schema, JsonSerializerOptions.Web) ?? [];

    /// <summary>First data row's line in the file: 2 for CSV (after the header), 1 for JSON lines, none for Parquet.</summary>
    public static int? FirstLine(string format) => format switch
    {
        DataFormats.Csv => 2,
        DataFormats.JsonLines => 1,
        _ => null,
    };

    /// <summary>
    /// Adds the file at <paramref name="path"/> (inside <paramref name="session"/>'s folder) as a
    /// version of <paramref name="dataset"/>, or returns the version that already has these bytes.
    /// </summary>
    internal async Task<(DatasetVersion Version, bool Created)> AddVersionAsync(
        DataSession session, Dataset dataset, string path, string format, Operation operation, JsonObject origin, CancellationToken cancellationToken)
    {
        var sha256 = await HashAsync(path, cancellationToken);
        var existing = await db.DatasetVersions.AsNoTracking().SingleOrDefaultAsync(v => v.DatasetId == dataset.Id && v.Sha256 == sha256, cancellationToken);
        if (existing is not null)
        {
            return (existing, false);
        }

        FileChecks.Check(path, format, cancellationToken);
        var table = "v_" + sha256[..16];
        try
        {
            session.Load(table, path, format);
        }
        catch (DuckDBException ex)
        {
            throw new UnprocessableException($"The file is not valid {format}: {DataSession.Message(ex)}");
        }

        List<ColumnSchema> columns;
        JsonObject profile;
        try
        {
            columns = session.Describe(DataSession.Identifier(table));
            if (dataset.DeclaredSchema is { } declaredJson)
            {
                columns = Enforce(session, table, columns, JsonSerializer.Deserialize<List<DeclaredColumn>>(declaredJson, JsonSerializerOptions.Web) ?? [], format);
            }

            profile = Profiler.Profile(session, table, columns);
        }
        catch (DuckDBException ex)
        {
            // Nested values (JSON objects, lists) the profiler cannot aggregate, say: the caller's data, not our fault.
            throw new UnprocessableException($"The data cannot be profiled: {DataSession.Message(ex)}");
        }

        var rows = profile["rows"]!.GetValue<long>();
        var size = new FileInfo(path).Length;
        var key = $"datasets/{dataset.ProjectId:N}/{dataset.Id:N}/{sha256}.{DataFormats.Extension(format)}";
        StoredObject stored;
        await using (var content = File.OpenRead(path))
        {
            stored = await store.PutAsync(key, content, DataFormats.ContentType(format), cancellationToken);
        }

        try
        {
            return await InsertAsync(dataset, sha256, format, stored, rows, columns, profile, operation, origin, cancellationToken);
        }
        catch
        {
            // No row refers to the object: remove it, whatever failed.
            try
            {
                await store.DeleteAsync(key, CancellationToken.None);
            }
            catch (Exception cleanup) when (cleanup is not OperationCanceledException)
            {
                logger.LogWarning(cleanup, "Could not delete the orphaned dataset object {Key}", key);
            }

            throw;
        }
    }

    private async Task<(DatasetVersion, bool)> InsertAsync(
        Dataset dataset, string sha256, string format, StoredObject stored, long rows, List<ColumnSchema> columns, JsonObject profile,
        Operation operation, JsonObject origin, CancellationToken cancellationToken)
    {
        var versionId = Guid.CreateVersion7();
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            var tracked = await db.Datasets.SingleAsync(d => d.Id == dataset.Id, cancellationToken);
            var now = Now();
            tracked.LatestVersion++;
            var version = new DatasetVersion
            {
                Id = versionId,
                DatasetId = dataset.Id,
                ProjectId = dataset.ProjectId,
                Version = tracked.LatestVersion,
                Sha256 = sha256,
                Format = format,
                ArtifactKey = stored.Key,
                ArtifactUri = stored.Uri.ToString(),
                SizeBytes = stored.Size,
                Rows = rows,
                Schema = JsonSerializer.Serialize(columns, JsonSerializerOptions.Web),
                Profile = profile.ToJsonString(),
                ProducedByRun = operation.RunId,
                ProducedByStep = operation.Step,
                Origin = origin.ToJsonString(),
                CreatedAt = now,
                CreatedBy = operation.CreatedBy,
            };
            db.DatasetVersions.Add(version);
            db.AddIntegrationEvent(
                new DatasetVersionCreated(Guid.CreateVersion7(), now, dataset.ProjectId, dataset.ProjectName, dataset.Id, dataset.Name, version.Version,
                    sha256, stored.Key, rows, operation.WorkflowRunId),
                clock);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                db.ChangeTracker.Clear();
                return (version, true);
            }
            catch (DbUpdateException) when (attempt < MaxAttempts)
            {
                db.ChangeTracker.Clear();
                // The same bytes stored concurrently: that row is the version (and owns the object).
                var same = await db.DatasetVersions.AsNoTracking().SingleOrDefaultAsync(v => v.DatasetId == dataset.Id && v.Sha256 == sha256, cancellationToken);
                if (same is not null)
                {
                    return (same, false);
                }

                // Otherwise another version took this number: take the next.
            }
            catch (DbUpdateException)
            {
                throw new ConflictException($"The dataset '{dataset.Name}' is receiving many versions at this moment; try again.");
            }
        }
    }

    /// <summary>Declared columns must all be there, nothing else, and every value must convert to the declared type.</summary>
    private static List<ColumnSchema> Enforce(DataSession session, string table, List<ColumnSchema> inferred, List<DeclaredColumn> declared, string format)
    {
        var missing = declared.Where(d => inferred.All(c => c.Name != d.Name)).Select(d => d.Name).ToList();
        if (missing.Count > 0)
        {
            throw new UnprocessableException($"The file lacks the declared column(s) {string.Join(", ", missing.Select(m => $"'{m}'"))}; it has {string.Join(", ", inferred.Select(c => c.Name))}.");
        }

        var extra = inferred.Where(c => declared.All(d => d.Name != c.Name)).Select(c => c.Name).ToList();
        if (extra.Count > 0)
        {
            throw new UnprocessableException($"The file has column(s) {string.Join(", ", extra.Select(m => $"'{m}'"))} that the dataset's schema does not declare.");
        }

        var t = DataSession.Identifier(table);
        var firstLine = FirstLine(format);
        var casts = new List<string>();
        foreach (var column in declared)
        {
            var c = DataSession.Identifier(column.Name);
            var engineType = TypeNames.ToEngine(column.Type);
            var bad = session.Query($"SELECT rowid, {c}::VARCHAR FROM {t} WHERE {c} IS NOT NULL AND TRY_CAST({c}::VARCHAR AS {engineType}) IS NULL ORDER BY rowid LIMIT 1");
            if (bad.Count > 0)
            {
                var rowIndex = Convert.ToInt64(bad[0][0], CultureInfo.InvariantCulture);
                var where = firstLine is { } first ? $"Line {rowIndex + first}" : $"Row {rowIndex + 1}";
                var value = Convert.ToString(bad[0][1], CultureInfo.InvariantCulture) ?? string.Empty;
                throw new UnprocessableException($"{where}, column '{column.Name}': '{(value.Length > 100 ? value[..100] + "…" : value)}' is not {Article(column.Type)} {column.Type} (declared schema).");
            }

            casts.Add($"CAST({c}::VARCHAR AS {engineType}) AS {c}");
        }

        var typed = DataSession.Identifier(table + "_typed");
        session.Execute($"CREATE TABLE {typed} AS SELECT {string.Join(", ", casts)} FROM {t} ORDER BY rowid");
        session.Execute($"DROP TABLE {t}");
        session.Execute($"ALTER TABLE {typed} RENAME TO {t}");
        return declared.Select(d => new ColumnSchema(d.Name, d.Type, TypeNames.ToEngine(d.Type))).ToList();
    }

    private static string Article(string type) => type is TypeNames.Integer ? "an" : "a";

    /// <summary>
    /// Makes the version's content available in the session's folder as <paramref name="fileName"/>:
    /// downloaded once into the content-addressed cache, then hard-linked (copied where links fail).
    /// The cache file is leased until the session ends, so eviction never takes a file in use.
    /// </summary>
    internal async Task<string> LocalCopyAsync(DataSession session, DatasetVersion version, string fileName, CancellationToken cancellationToken)
    {
        var lease = cache.Acquire(version.Sha256, DataFormats.Extension(version.Format));
        session.Own(lease);
        var cached = lease.Path;
        if (!File.Exists(cached))
        {
            var temp = cached + "." + Guid.NewGuid().ToString("N") + ".partial";
            try
            {
                await using (var source = await store.OpenReadAsync(version.ArtifactKey, cancellationToken))
                await using (var target = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous))
                {
                    await source.CopyToAsync(target, 1 << 16, cancellationToken);
                }

                // The cache is keyed by content: check it, so a corrupt download never poisons it.
                if (await HashAsync(temp, cancellationToken) != version.Sha256)
                {
                    throw new UnprocessableException($"The stored content of version {version.Version} does not match its SHA-256.");
                }

                File.Move(temp, cached, overwrite: true);
                lease.Filled();
            }
            catch (ObjectNotFoundException)
            {
                throw new NotFoundException("Dataset content", version.ArtifactKey);
            }
            finally
            {
                if (File.Exists(temp))
                {
                    File.Delete(temp);
                }
            }
        }

        var path = session.PathFor(fileName);
        if (!OperatingSystem.IsWindows() && Link(cached, path) == 0)
        {
            return path;
        }

        File.Copy(cached, path, overwrite: true);
        return path;
    }

    [LibraryImport("libc", EntryPoint = "link", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string newPath);

    public static async Task<string> HashAsync(string path, CancellationToken cancellationToken)
    {
        await using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        return Convert.ToHexStringLower(await SHA256.HashDataAsync(file, cancellationToken));
    }
}

public sealed record DeclaredColumn(string Name, string Type);
