using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.ModelRegistry.Models;

public sealed record ModelDto(
    Guid Id,
    string Project,
    string Name,
    string? Description,
    IReadOnlyList<string> Tags,
    IReadOnlyList<string> ProtectedAliases,
    int LatestVersion,
    DateTimeOffset CreatedAt,
    Guid? CreatedBy,
    DateTimeOffset UpdatedAt);

public sealed record CreateModelRequest(string? Name, string? Description, IReadOnlyList<string>? Tags, IReadOnlyList<string>? ProtectedAliases);

public sealed record UpdateModelRequest(string? Description, IReadOnlyList<string>? Tags, IReadOnlyList<string>? ProtectedAliases);

internal static class ModelMapping
{
    public static ModelDto ToDto(string project, RegisteredModel model, IEnumerable<string> tags) => new(
        model.Id, project, model.Name, model.Description, tags.Order(StringComparer.Ordinal).ToList(),
        model.ProtectedAliasList, model.LatestVersion, model.CreatedAt, model.CreatedBy, model.UpdatedAt);

    public static async Task<List<string>> TagsOf(ModelRegistryDbContext db, Guid modelId, CancellationToken cancellationToken) =>
        await db.ModelTags.AsNoTracking().Where(t => t.ModelId == modelId).Select(t => t.Tag).ToListAsync(cancellationToken);
}

public sealed record CreateModel(ClaimsPrincipal Caller, string Project, string Name, string? Description, IReadOnlyList<string> Tags, IReadOnlyList<string> ProtectedAliases)
    : ICommand<ModelDto>;

public sealed class CreateModelValidator : AbstractValidator<CreateModel>
{
    public CreateModelValidator()
    {
        RuleFor(c => c.Name).NotEmpty().Matches(ModelRules.NamePattern()).WithMessage(ModelRules.NameMessage);
        RuleFor(c => c.Description).MaximumLength(2000);
        RuleFor(c => c.Tags).Must(t => t.Count <= ModelRules.MaxTags).WithMessage($"At most {ModelRules.MaxTags} tags.");
        RuleForEach(c => c.Tags).NotEmpty().Matches(ModelRules.TagPattern()).WithMessage(ModelRules.TagMessage);
        RuleFor(c => c.ProtectedAliases).Must(a => a.Count <= ModelRules.MaxTags).WithMessage($"At most {ModelRules.MaxTags} protected aliases.");
        RuleForEach(c => c.ProtectedAliases).NotEmpty().Matches(ModelRules.AliasPattern()).WithMessage(ModelRules.AliasMessage);
    }
}

/// <summary>Registers a model name in a project (Write). Protecting aliases here needs no more: it only restricts.</summary>
public sealed class CreateModelHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, TimeProvider clock) : ICommandHandler<CreateModel, ModelDto>
{
    public async ValueTask<ModelDto> Handle(CreateModel command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        if (await db.Models.AnyAsync(m => m.ProjectId == access.ProjectId && m.Name == command.Name, cancellationToken))
        {
            throw new ConflictException($"A model named '{command.Name}' already exists in project '{access.ProjectName}'.");
        }

        var now = ModelLookup.Now(clock);
        var model = new RegisteredModel
        {
            Id = Guid.CreateVersion7(),
            ProjectId = access.ProjectId,
            Name = command.Name,
            Description = command.Description,
            ProtectedAliases = string.Join('\n', command.ProtectedAliases.Distinct(StringComparer.Ordinal)),
            CreatedAt = now,
            CreatedBy = command.Caller.SubjectId(),
            UpdatedAt = now,
        };
        db.Models.Add(model);
        var tags = command.Tags.Distinct(StringComparer.Ordinal).ToList();
        db.ModelTags.AddRange(tags.Select(t => new ModelTag { ModelId = model.Id, Tag = t }));
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Lost a race with a concurrent create of the same name: the unique index held.
            throw new ConflictException($"A model named '{command.Name}' already exists in project '{access.ProjectName}'.");
        }

        return ModelMapping.ToDto(access.ProjectName, model, tags);
    }
}

public sealed record UpdateModel(ClaimsPrincipal Caller, string Project, string Name, string? Description, IReadOnlyList<string>? Tags, IReadOnlyList<string>? ProtectedAliases)
    : ICommand<ModelDto>;

public sealed class UpdateModelValidator : AbstractValidator<UpdateModel>
{
    public UpdateModelValidator()
    {
        RuleFor(c => c.Description).MaximumLength(2000);
        RuleFor(c => c.Tags).Must(t => t is null || t.Count <= ModelRules.MaxTags).WithMessage($"At most {ModelRules.MaxTags} tags.");
        RuleForEach(c => c.Tags).NotEmpty().Matches(ModelRules.TagPattern()).WithMessage(ModelRules.TagMessage);
        RuleFor(c => c.ProtectedAliases).Must(a => a is null || a.Count <= ModelRules.MaxTags).WithMessage($"At most {ModelRules.MaxTags} protected aliases.");
        RuleForEach(c => c.ProtectedAliases).NotEmpty().Matches(ModelRules.AliasPattern()).WithMessage(ModelRules.AliasMessage);
    }
}

/// <summary>
/// Changes what is sent (null leaves a field as it is). Description and tags need Write; changing
/// the protected aliases needs Approve, or a maintainer could unprotect an alias and then move it.
/// </summary>
public sealed class UpdateModelHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, TimeProvider clock) : ICommandHandler<UpdateModel, ModelDto>
{
    public async ValueTask<ModelDto> Handle(UpdateModel command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken, tracked: true);
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        if (command.ProtectedAliases is { } protectedAliases)
        {
            var joined = string.Join('\n', protectedAliases.Distinct(StringComparer.Ordinal));
            if (joined != model.ProtectedAliases)
            {
                await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Approve, cancellationToken);
                // Write the new rules first (locking the model row, only over the rules read), then
                // look at the aliases: a move judged on the old rules either committed before this
                // UPDATE got the row, and the check below sees it, or fails its own lock on this row
                // afterwards and is judged again (AliasRules.LockProtectionAsync). Another change of
                // the rules since they were read: 409, not a lost update.
                var locked = await db.Models
                    .Where(m => m.Id == model.Id && m.ProtectedAliases == model.ProtectedAliases)
                    .ExecuteUpdateAsync(u => u.SetProperty(m => m.ProtectedAliases, joined), cancellationToken);
                if (locked == 0)
                {
                    throw new ConflictException($"The protected aliases of '{model.Name}' were changed by someone else at this moment; read them again and retry.");
                }

                await CheckNewlyProtectedAsync(model, protectedAliases, cancellationToken);
                model.ProtectedAliases = joined;
            }
        }

        if (command.Description is not null)
        {
            model.Description = command.Description;
        }

        var tags = await ModelMapping.TagsOf(db, model.Id, cancellationToken);
        if (command.Tags is { } newTags)
        {
            // A diff, not delete-all-then-insert: both land in the one SaveChanges transaction below.
            var wanted = newTags.Distinct(StringComparer.Ordinal).ToList();
            var existing = await db.ModelTags.Where(t => t.ModelId == model.Id).ToListAsync(cancellationToken);
            db.ModelTags.RemoveRange(existing.Where(t => !wanted.Contains(t.Tag)));
            db.ModelTags.AddRange(wanted.Where(t => !tags.Contains(t)).Select(t => new ModelTag { ModelId = model.Id, Tag = t }));
            tags = wanted;
        }

        model.UpdatedAt = ModelLookup.Now(clock);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            throw new ConflictException($"The model '{model.Name}' was changed by someone else at this moment; try again.");
        }

        return ModelMapping.ToDto(access.ProjectName, model, tags);
    }

    /// <summary>
    /// Only approved versions may take a protected alias, so an alias is not made protected while it
    /// points at a pending version (409): it would hold a protected alias that no approver gave it.
    /// </summary>
    private async Task CheckNewlyProtectedAsync(RegisteredModel model, IReadOnlyList<string> wanted, CancellationToken cancellationToken)
    {
        var added = wanted.Except(model.ProtectedAliasList, StringComparer.Ordinal).ToList();
        if (added.Count == 0)
        {
            return;
        }

        var held = await (
                from a in db.Aliases.AsNoTracking()
                join v in db.ModelVersions.AsNoTracking() on new { a.ModelId, a.Version } equals new { v.ModelId, v.Version }
                where a.ModelId == model.Id && added.Contains(a.Alias) && v.Status != VersionStatus.Approved
                orderby a.Alias
                select new { a.Alias, a.Version, v.Status })
            .ToListAsync(cancellationToken);
        if (held.Count > 0)
        {
            throw new ConflictException(
                $"Only approved versions may take a protected alias: {string.Join(", ", held.Select(h => $"'{h.Alias}' points at version {h.Version} ({h.Status})"))}; move it to an approved version first.");
        }
    }
}

/// <summary>Filters: name prefix, tag, an alias the model has, a status one of its versions has.</summary>
public sealed record ListModels(ClaimsPrincipal Caller, string Project, string? NamePrefix, string? Tag, int Offset, int Limit, string? Alias = null, string? Status = null)
    : IQuery<Page<ModelDto>>, IPagedQuery;

public sealed class ListModelsValidator : AbstractValidator<ListModels>
{
    public ListModelsValidator()
    {
        this.Paged();
        // Named as the query parameter is, so the error points at what the caller sent.
        RuleFor(q => q.NamePrefix).MaximumLength(63).OverridePropertyName("prefix");
        RuleFor(q => q.Tag).MaximumLength(63);
        RuleFor(q => q.Alias).MaximumLength(63);
        RuleFor(q => q.Status).Must(s => s is null or VersionStatus.Pending or VersionStatus.Approved or VersionStatus.Rejected)
            .WithMessage("The status filter must be pending, approved or rejected.");
    }
}

/// <summary>The project's models by name, filtered by name prefix, tag, alias and version status.</summary>
public sealed class ListModelsHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListModels, Page<ModelDto>>
{
    public async ValueTask<Page<ModelDto>> Handle(ListModels query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var models = db.Models.AsNoTracking().Where(m => m.ProjectId == access.ProjectId);
        if (!string.IsNullOrEmpty(query.NamePrefix))
        {
            // StartsWith becomes LIKE with escaped wildcards on both providers, case-sensitive as names are.
            models = models.Where(m => m.Name.StartsWith(query.NamePrefix));
        }

        if (!string.IsNullOrEmpty(query.Tag))
        {
            models = models.Where(m => db.ModelTags.Any(t => t.ModelId == m.Id && t.Tag == query.Tag));
        }

        if (!string.IsNullOrEmpty(query.Alias))
        {
            models = models.Where(m => db.Aliases.Any(a => a.ModelId == m.Id && a.Alias == query.Alias));
        }

        if (query.Status is not null)
        {
            models = models.Where(m => db.ModelVersions.Any(v => v.ModelId == m.Id && v.Status == query.Status));
        }

        var total = await models.CountAsync(cancellationToken);
        var page = await models.OrderBy(m => m.Name).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        var ids = page.Select(m => m.Id).ToList();
        var tags = (await db.ModelTags.AsNoTracking().Where(t => ids.Contains(t.ModelId)).ToListAsync(cancellationToken))
            .ToLookup(t => t.ModelId, t => t.Tag);
        var items = page.Select(m => ModelMapping.ToDto(access.ProjectName, m, tags[m.Id])).ToList();
        return new Page<ModelDto>(items, total, query.Offset, query.Limit);
    }
}

public sealed record GetModel(ClaimsPrincipal Caller, string Project, string Name) : IQuery<ModelDto>;

public sealed class GetModelHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetModel, ModelDto>
{
    public async ValueTask<ModelDto> Handle(GetModel query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        return ModelMapping.ToDto(access.ProjectName, model, await ModelMapping.TagsOf(db, model.Id, cancellationToken));
    }
}
