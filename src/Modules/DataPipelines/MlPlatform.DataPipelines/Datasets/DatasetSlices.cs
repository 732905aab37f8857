using System.Security.Claims;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Datasets;

public sealed record DatasetDto(Guid Id, string Project, string Name, string? Description, IReadOnlyList<DeclaredColumn>? Schema, int LatestVersion, DateTimeOffset CreatedAt);

public sealed record DatasetVersionDto(
    Guid Id,
    string Project,
    string Dataset,
    int Version,
    string Ref,
    string Sha256,
    string Format,
    string ArtifactKey,
    string ArtifactUri,
    long SizeBytes,
    long Rows,
    JsonElement Schema,
    JsonElement Profile,
    Guid? ProducedByRun,
    string? ProducedByStep,
    JsonElement Origin,
    DateTimeOffset CreatedAt);

/// <summary>A stored version, and whether this call created it (false: the same bytes were already a version).</summary>
public sealed record VersionOutcome(DatasetVersionDto Version, bool Created);

internal static class DatasetMapping
{
    public static DatasetDto ToDto(string project, Dataset d) => new(
        d.Id, project, d.Name, d.Description,
        d.DeclaredSchema is null ? null : JsonSerializer.Deserialize<List<DeclaredColumn>>(d.DeclaredSchema, JsonSerializerOptions.Web),
        d.LatestVersion, d.CreatedAt);

    public static DatasetVersionDto ToDto(string project, Dataset d, DatasetVersion v, bool withProfile = true) => new(
        v.Id, project, d.Name, v.Version, $"{d.Name}@{v.Version}", v.Sha256, v.Format, v.ArtifactKey, v.ArtifactUri, v.SizeBytes, v.Rows,
        Element(v.Schema), Element(withProfile ? v.Profile : "null"), v.ProducedByRun, v.ProducedByStep, Element(v.Origin), v.CreatedAt);

    public static JsonElement Element(string json)
    {
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

public sealed record CreateDatasetRequest(string? Name, string? Description, List<DeclaredColumn>? Schema);

public sealed record CreateDataset(ClaimsPrincipal Caller, string Project, string Name, string? Description, List<DeclaredColumn>? Schema) : ICommand<DatasetDto>;

public sealed class CreateDatasetValidator : AbstractValidator<CreateDataset>
{
    public CreateDatasetValidator()
    {
        RuleFor(c => c.Name).Matches(DatasetRules.NamePattern()).WithMessage(DatasetRules.NameMessage);
        RuleFor(c => c.Description).MaximumLength(2000);
        RuleFor(c => c.Schema).Must(s => s is null || s.All(c => c is not null))
            .WithMessage("Every column of a declared schema is an object with a name and a type.")
            .Must(s => s is null || (s.Count is > 0 and <= 1000 && s.Select(c => c?.Name).Distinct().Count() == s.Count))
            .WithMessage("A declared schema lists 1 to 1000 columns with distinct names.");
        RuleForEach(c => c.Schema).ChildRules(column =>
        {
            column.RuleFor(c => c.Name).NotEmpty().MaximumLength(200);
            column.RuleFor(c => c.Type).Must(t => TypeNames.All.Contains(t)).WithMessage($"The type must be one of: {string.Join(", ", TypeNames.All)}.");
        });
    }
}

/// <summary>Creates a dataset (Maintainer), optionally with a declared schema every version must match.</summary>
public sealed class CreateDatasetHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer, DatasetService datasets) : ICommandHandler<CreateDataset, DatasetDto>
{
    public async ValueTask<DatasetDto> Handle(CreateDataset command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var dataset = new Dataset
        {
            Id = Guid.CreateVersion7(),
            ProjectId = access.ProjectId,
            ProjectName = access.ProjectName,
            Name = command.Name,
            Description = command.Description,
            DeclaredSchema = command.Schema is null ? null : JsonSerializer.Serialize(command.Schema, JsonSerializerOptions.Web),
            CreatedAt = datasets.Now(),
            CreatedBy = command.Caller.SubjectId(),
        };
        if (await db.Datasets.AnyAsync(d => d.ProjectId == access.ProjectId && d.Name == command.Name, cancellationToken))
        {
            throw new ConflictException($"The dataset '{command.Name}' already exists in the project.");
        }

        db.Datasets.Add(dataset);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new ConflictException($"The dataset '{command.Name}' already exists in the project.");
        }

        return DatasetMapping.ToDto(access.ProjectName, dataset);
    }
}

public sealed record GetDataset(ClaimsPrincipal Caller, string Project, string Name) : IQuery<DatasetDto>;

public sealed class GetDatasetHandler(IProjectAuthorizer authorizer, DatasetService datasets) : IQueryHandler<GetDataset, DatasetDto>
{
    public async ValueTask<DatasetDto> Handle(GetDataset query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        return DatasetMapping.ToDto(access.ProjectName, await datasets.FindAsync(access.ProjectId, query.Name, cancellationToken));
    }
}

public sealed record ListDatasets(ClaimsPrincipal Caller, string Project, int Offset, int Limit) : IQuery<Page<DatasetDto>>, IPagedQuery;

public sealed class ListDatasetsValidator : AbstractValidator<ListDatasets>
{
    public ListDatasetsValidator()
    {
        this.Paged();
    }
}

public sealed class ListDatasetsHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListDatasets, Page<DatasetDto>>
{
    public async ValueTask<Page<DatasetDto>> Handle(ListDatasets query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var all = db.Datasets.AsNoTracking().Where(d => d.ProjectId == access.ProjectId);
        var total = await all.CountAsync(cancellationToken);
        var items = await all.OrderBy(d => d.Name).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<DatasetDto>(items.Select(d => DatasetMapping.ToDto(access.ProjectName, d)).ToList(), total, query.Offset, query.Limit);
    }
}

/// <summary>
/// Uploads a file as a version (Maintainer). The body is read only after the rights and the
/// dataset are checked. Created is false when the bytes already form a version (nothing stored).
/// </summary>
public sealed record UploadVersion(ClaimsPrincipal Caller, string Project, string Name, string? Format, Func<string, long, CancellationToken, Task<UploadInfo>> ReadBody)
    : ICommand<VersionOutcome>;

public sealed class UploadVersionHandler(IProjectAuthorizer authorizer, DatasetService datasets, DataPipelinesSettings settings, DataPipelinesDbContext db)
    : ICommandHandler<UploadVersion, VersionOutcome>
{
    public async ValueTask<VersionOutcome> Handle(UploadVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var dataset = await datasets.FindAsync(access.ProjectId, command.Name, cancellationToken);
        using var session = datasets.OpenSession();
        var path = session.PathFor("upload.bin");
        var info = await command.ReadBody(path, settings.MaxUploadBytes, cancellationToken);
        var format = DataFormats.Detect(command.Format, info.ContentType, info.FileName)
            ?? throw new UnsupportedMediaTypeException("Say the format: ?format=csv|parquet|jsonl, a content type (text/csv, application/vnd.apache.parquet, application/x-ndjson) or a file name ending in .csv, .parquet or .jsonl.");
        var operation = new Operation
        {
            ProjectId = access.ProjectId, ProjectName = access.ProjectName, Job = $"dataset.upload.{dataset.Name}",
            StartedAt = datasets.Now(), CreatedBy = command.Caller.SubjectId(),
        };
        var origin = new JsonObject { ["kind"] = "upload", ["fileName"] = info.FileName };
        return await VersionWriting.AddAndRecordAsync(db, datasets, session, dataset, path, format, operation, origin, access.ProjectName, cancellationToken);
    }
}

/// <summary>Adds a version from an object already in the artifact store (Maintainer).</summary>
public sealed record IngestVersion(ClaimsPrincipal Caller, string Project, string Name, string Source, string? Format) : ICommand<VersionOutcome>;

public sealed class IngestVersionValidator : AbstractValidator<IngestVersion>
{
    public IngestVersionValidator()
    {
        RuleFor(c => c.Source).NotEmpty().MaximumLength(1024);
    }
}

public sealed class IngestVersionHandler(IProjectAuthorizer authorizer, DatasetService datasets, IObjectStore store, DataPipelinesDbContext db)
    : ICommandHandler<IngestVersion, VersionOutcome>
{
    public async ValueTask<VersionOutcome> Handle(IngestVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var dataset = await datasets.FindAsync(access.ProjectId, command.Name, cancellationToken);
        SourceKeys.Check(command.Source, access.ProjectId, access.ProjectName, runId: null);
        var format = DataFormats.Detect(command.Format, null, command.Source)
            ?? throw new BadRequestException("Say the format (csv, parquet or jsonl), or use a key ending in .csv, .parquet or .jsonl.");
        using var session = datasets.OpenSession();
        var path = session.PathFor("source.bin");
        await SourceKeys.DownloadAsync(store, command.Source, path, cancellationToken);
        var operation = new Operation
        {
            ProjectId = access.ProjectId, ProjectName = access.ProjectName, Job = $"dataset.ingest.{dataset.Name}",
            StartedAt = datasets.Now(), CreatedBy = command.Caller.SubjectId(),
        };
        var origin = new JsonObject { ["kind"] = "ingest", ["source"] = command.Source, ["sourceUri"] = store.UriOf(command.Source).ToString() };
        return await VersionWriting.AddAndRecordAsync(db, datasets, session, dataset, path, format, operation, origin, access.ProjectName, cancellationToken);
    }
}

internal static class VersionWriting
{
    /// <summary>Adds the version and records the operation's lineage (events and edges); a failure is recorded as FAIL.</summary>
    public static async Task<VersionOutcome> AddAndRecordAsync(
        DataPipelinesDbContext db, DatasetService datasets, DataSession session, Dataset dataset, string path, string format,
        Operation operation, JsonObject origin, string project, CancellationToken cancellationToken)
    {
        try
        {
            var (version, created) = await datasets.AddVersionAsync(session, dataset, path, format, operation, origin, cancellationToken);
            if (created)
            {
                var fresh = await db.Datasets.AsNoTracking().SingleAsync(d => d.Id == dataset.Id, cancellationToken);
                operation.Outputs.Add(DatasetService.Ref(fresh, version));
                LineageRecorder.Finish(db, operation, datasets.Now(), error: null);
                await db.SaveChangesAsync(cancellationToken);
                db.ChangeTracker.Clear();
            }

            return new VersionOutcome(DatasetMapping.ToDto(project, dataset, version), created);
        }
        catch (Exception ex) when (ex is PlatformException or FluentValidation.ValidationException && !operation.Finished)
        {
            db.ChangeTracker.Clear();
            LineageRecorder.Finish(db, operation, datasets.Now(), ex.Message);
            await db.SaveChangesAsync(CancellationToken.None);
            db.ChangeTracker.Clear();
            throw;
        }
    }
}

/// <summary>Which store objects a project may read as a dataset source.</summary>
internal static class SourceKeys
{
    /// <summary>
    /// The project's readable areas of the store only (<see cref="ProjectAreas"/>): another project's
    /// objects read as missing. Inside a workflow step also the run's folder.
    /// </summary>
    public static void Check(string key, Guid projectId, string projectName, Guid? runId)
    {
        try
        {
            ObjectKey.Validate(key);
        }
        catch (InvalidObjectKeyException ex)
        {
            throw new BadRequestException(ex.Message);
        }

        if (!new ProjectAreas(projectId, projectName, runId).CanRead(key))
        {
            throw new NotFoundException("Object", key);
        }
    }

    /// <summary>
    /// What a training or evaluation step may read as data or as a model file: the project's readable
    /// areas and the run's folder (<see cref="ProjectAreas"/>). A step runs with the platform's access
    /// to the whole store; the key is the only thing that says whose a file is. Fails the step, not retried.
    /// </summary>
    public static async Task CheckStepReadableAsync(IServiceScopeFactory scopes, StepContext context, string parameter, string key, CancellationToken cancellationToken)
    {
        try
        {
            ObjectKey.Validate(key);
        }
        catch (InvalidObjectKeyException ex)
        {
            throw new StepFailedException($"'{parameter}': {ex.Message}", retryable: false);
        }

        string? projectName;
        await using (var scope = scopes.CreateAsyncScope())
        {
            projectName = await scope.ServiceProvider.GetRequiredService<IProjectDirectory>().FindNameAsync(context.ProjectId, cancellationToken);
        }

        var areas = new ProjectAreas(context.ProjectId, projectName, context.RunId);
        if (!areas.CanRead(key))
        {
            throw new StepFailedException($"'{parameter}': object '{key}' was not found in this project's areas of the store ({string.Join(", ", areas.Readable)}).", retryable: false);
        }
    }

    public static async Task DownloadAsync(IObjectStore store, string key, string path, CancellationToken cancellationToken)
    {
        try
        {
            await using var source = await store.OpenReadAsync(key, cancellationToken);
            await using var target = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);
            await source.CopyToAsync(target, 1 << 16, cancellationToken);
        }
        catch (ObjectNotFoundException)
        {
            throw new NotFoundException("Object", key);
        }
    }
}

public sealed record ListVersions(ClaimsPrincipal Caller, string Project, string Name, int Offset, int Limit) : IQuery<Page<DatasetVersionDto>>, IPagedQuery;

public sealed class ListVersionsValidator : AbstractValidator<ListVersions>
{
    public ListVersionsValidator()
    {
        this.Paged();
    }
}

/// <summary>A dataset's versions, newest first, without profiles (read one version for its profile).</summary>
public sealed class ListVersionsHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer, DatasetService datasets) : IQueryHandler<ListVersions, Page<DatasetVersionDto>>
{
    public async ValueTask<Page<DatasetVersionDto>> Handle(ListVersions query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var dataset = await datasets.FindAsync(access.ProjectId, query.Name, cancellationToken);
        var all = db.DatasetVersions.AsNoTracking().Where(v => v.DatasetId == dataset.Id);
        var total = await all.CountAsync(cancellationToken);
        var items = await all.OrderByDescending(v => v.Version).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<DatasetVersionDto>(items.Select(v => DatasetMapping.ToDto(access.ProjectName, dataset, v, withProfile: false)).ToList(), total, query.Offset, query.Limit);
    }
}

public sealed record GetVersion(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<DatasetVersionDto>;

public sealed class GetVersionHandler(IProjectAuthorizer authorizer, DatasetService datasets) : IQueryHandler<GetVersion, DatasetVersionDto>
{
    public async ValueTask<DatasetVersionDto> Handle(GetVersion query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var (dataset, version) = await datasets.ResolveAsync(access.ProjectId, $"{query.Name}@{query.Version}", cancellationToken);
        return DatasetMapping.ToDto(access.ProjectName, dataset, version);
    }
}

public sealed record DatasetContent(Stream Content, string FileName, string ContentType, string Sha256);

public sealed record DownloadVersion(ClaimsPrincipal Caller, string Project, string Name, int Version) : IQuery<DatasetContent>;

public sealed class DownloadVersionHandler(IProjectAuthorizer authorizer, DatasetService datasets, IObjectStore store) : IQueryHandler<DownloadVersion, DatasetContent>
{
    public async ValueTask<DatasetContent> Handle(DownloadVersion query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var (dataset, version) = await datasets.ResolveAsync(access.ProjectId, $"{query.Name}@{query.Version}", cancellationToken);
        try
        {
            var content = await store.OpenReadAsync(version.ArtifactKey, cancellationToken);
            return new DatasetContent(content, $"{dataset.Name}-v{version.Version}.{DataFormats.Extension(version.Format)}", DataFormats.ContentType(version.Format), version.Sha256);
        }
        catch (ObjectNotFoundException)
        {
            throw new NotFoundException("Dataset content", $"{dataset.Name}@{version.Version}");
        }
    }
}
