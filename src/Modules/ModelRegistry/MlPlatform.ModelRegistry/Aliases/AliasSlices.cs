using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.ModelRegistry.Aliases;

public sealed record AliasDto(string Alias, int Version, long Revision, bool Protected, DateTimeOffset UpdatedAt, Guid? UpdatedBy);

public sealed record AliasHistoryDto(string Alias, long Revision, int? FromVersion, int? ToVersion, DateTimeOffset MovedAt, Guid? MovedBy);

public sealed record MoveAliasRequest(int? Version);

internal static class AliasRules
{
    /// <summary>Concurrent moves of one alias retry; each retry reads the winner's revision and builds on it.</summary>
    public const int MaxAttempts = 20;

    /// <summary>
    /// Write for any alias; Approve as well for a protected one. Runs before the version is looked
    /// at, so a caller without the right learns nothing about the versions.
    /// </summary>
    public static async Task<(ProjectAccess Access, RegisteredModel Model)> AuthorizeAsync(
        ModelRegistryDbContext db, IProjectAuthorizer authorizer, ClaimsPrincipal caller, string project, string name, string alias, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(caller, project, Permission.Write, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, name, cancellationToken);
        if (model.IsProtected(alias))
        {
            await authorizer.AuthorizeAsync(caller, project, Permission.Approve, cancellationToken);
        }

        return (access, model);
    }

    /// <summary>
    /// Opens the move's transaction by locking the model row on the protection rules the move was
    /// judged on: a no-op UPDATE WHERE the protected aliases are still the ones read. False when
    /// they changed since (judge again). A change of the protected aliases (UpdateModel) takes the
    /// same row first and only then looks at the aliases, so the two serialize either way:
    /// - the change locks first: on PostgreSQL this UPDATE waits for its commit and then finds the
    ///   protection changed (0 rows); on SQLite writers take turns and the WHERE misses the same way;
    ///   so no move judged on the old rules lands after the change;
    /// - the move locks first: the change waits, then reads the aliases with the move committed
    ///   (a new statement sees it under READ COMMITTED) and refuses to protect an alias that now
    ///   points at a version not approved (409).
    /// </summary>
    public static async Task<bool> LockProtectionAsync(ModelRegistryDbContext db, RegisteredModel model, CancellationToken cancellationToken) =>
        await db.Models
            .Where(m => m.Id == model.Id && m.ProtectedAliases == model.ProtectedAliases)
            .ExecuteUpdateAsync(s => s.SetProperty(m => m.ProtectedAliases, m => m.ProtectedAliases), cancellationToken) == 1;

    /// <summary>
    /// Reads the model again after <see cref="LockProtectionAsync"/> failed. An alias that became
    /// protected needs the caller's approver right (<paramref name="reauthorize"/>; 403 without).
    /// </summary>
    public static async Task<RegisteredModel> RejudgeAsync(
        ModelRegistryDbContext db, RegisteredModel model, string alias, Func<CancellationToken, Task>? reauthorize, CancellationToken cancellationToken)
    {
        var fresh = await ModelLookup.FindAsync(db, model.ProjectId, model.Name, cancellationToken);
        if (fresh.Id != model.Id)
        {
            throw new NotFoundException("Model", model.Name);
        }

        if (fresh.IsProtected(alias) && !model.IsProtected(alias) && reauthorize is not null)
        {
            await reauthorize(cancellationToken);
        }

        return fresh;
    }

    public static async Task<long> NextRevisionAsync(ModelRegistryDbContext db, Guid modelId, string alias, CancellationToken cancellationToken) =>
        (await db.AliasHistory.Where(h => h.ModelId == modelId && h.Alias == alias).MaxAsync(h => (long?)h.Revision, cancellationToken) ?? 0) + 1;

    /// <summary>A short random pause before a retry, so racing writers do not collide again in lock step.</summary>
    public static Task BackOffAsync(int attempt, CancellationToken cancellationToken) =>
        Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 5 + Math.Min(attempt, 10) * 5)), cancellationToken);
}

public sealed record MoveAlias(ClaimsPrincipal Caller, string Project, string Name, string Alias, int Version) : ICommand<AliasDto>;

public sealed class MoveAliasValidator : AbstractValidator<MoveAlias>
{
    public MoveAliasValidator()
    {
        RuleFor(c => c.Alias).NotEmpty().Matches(ModelRules.AliasPattern()).WithMessage(ModelRules.AliasMessage);
        RuleFor(c => c.Version).GreaterThan(0);
    }
}

/// <summary>
/// Points an alias at a version, atomically with its history row and its AliasMoved event. Two
/// concurrent moves cannot both build on the same revision: the alias row's revision is a
/// concurrency token and (model, alias, revision) is unique in the history, so the loser re-reads
/// and moves again from the winner's state — every move is recorded, none is lost.
/// </summary>
public sealed class MoveAliasHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, TimeProvider clock, VersionLookupCache cache) : ICommandHandler<MoveAlias, AliasDto>
{
    public async ValueTask<AliasDto> Handle(MoveAlias command, CancellationToken cancellationToken)
    {
        var (access, model) = await AliasRules.AuthorizeAsync(db, authorizer, command.Caller, command.Project, command.Name, command.Alias, cancellationToken);
        return await AliasMover.MoveAsync(db, clock, cache, access.ProjectId, access.ProjectName, model, command.Alias, command.Version, command.Caller.SubjectId(), cancellationToken,
            async ct => await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Approve, ct));
    }
}

/// <summary>
/// The move itself, shared by the API (after its authorization) and the model.promote step.
/// <c>reauthorize</c> is called when the alias became protected after the caller was authorized
/// (the API asks for the approver right again; the step's right is the version's approval).
/// </summary>
internal static class AliasMover
{
    public static async Task<AliasDto> MoveAsync(
        ModelRegistryDbContext db, TimeProvider clock, VersionLookupCache cache, Guid projectId, string projectName, RegisteredModel model,
        string aliasName, int versionNumber, Guid? caller, CancellationToken cancellationToken, Func<CancellationToken, Task>? reauthorize = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            if (!await AliasRules.LockProtectionAsync(db, model, cancellationToken))
            {
                // The protected aliases changed since the caller was judged: judge again on the new rules.
                await transaction.RollbackAsync(cancellationToken);
                model = await AliasRules.RejudgeAsync(db, model, aliasName, reauthorize, cancellationToken);
                if (attempt >= AliasRules.MaxAttempts)
                {
                    throw new ConflictException($"The protected aliases of '{model.Name}' are being changed at this moment; try again.");
                }

                continue;
            }

            var isProtected = model.IsProtected(aliasName);
            // Read (tracked) on every attempt: the move is judged on the version's state at this
            // read, and its row version is written below, so an archive or decision committed after
            // this read makes the save fail and the next attempt judge again.
            var target = await ModelLookup.FindVersionAsync(db, model, versionNumber, cancellationToken, tracked: true);
            CheckTarget(model, aliasName, isProtected, target);
            var alias = await db.Aliases.SingleOrDefaultAsync(a => a.ModelId == model.Id && a.Alias == aliasName, cancellationToken);
            if (alias is not null && alias.Version == versionNumber)
            {
                // Already there: nothing moves, so nothing is recorded.
                return new AliasDto(alias.Alias, alias.Version, alias.Revision, isProtected, alias.UpdatedAt, alias.UpdatedBy);
            }

            // Taken after the reads, so the move's time is never before a decision it was judged on.
            var now = ModelLookup.Now(clock);
            target.RowVersion++;
            int? from = alias?.Version;
            if (alias is null)
            {
                alias = new ModelAlias { ModelId = model.Id, Alias = aliasName, Revision = await AliasRules.NextRevisionAsync(db, model.Id, aliasName, cancellationToken) };
                db.Aliases.Add(alias);
            }
            else
            {
                alias.Revision++;
            }

            alias.Version = versionNumber;
            alias.UpdatedAt = now;
            alias.UpdatedBy = caller;
            db.AliasHistory.Add(new AliasHistoryEntry
            {
                Id = Guid.CreateVersion7(),
                ModelId = model.Id,
                Alias = aliasName,
                Revision = alias.Revision,
                FromVersion = from,
                ToVersion = versionNumber,
                MovedAt = now,
                MovedBy = caller,
            });
            db.AddIntegrationEvent(
                new AliasMoved(Guid.CreateVersion7(), now, projectId, projectName, model.Id, model.Name, aliasName, from, versionNumber, alias.Revision, caller),
                clock);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                cache.Invalidate(model.Id);
                return new AliasDto(alias.Alias, alias.Version, alias.Revision, isProtected, alias.UpdatedAt, alias.UpdatedBy);
            }
            catch (DbUpdateException) when (attempt < AliasRules.MaxAttempts)
            {
                await transaction.RollbackAsync(cancellationToken);
                await AliasRules.BackOffAsync(attempt, cancellationToken);
            }
            catch (DbUpdateException)
            {
                throw new ConflictException($"The alias '{aliasName}' is being moved by others at this moment; try again.");
            }
        }
    }

    private static void CheckTarget(RegisteredModel model, string aliasName, bool isProtected, ModelVersion target)
    {
        if (target.Status == VersionStatus.Rejected)
        {
            throw new ConflictException($"Version {target.Version} of '{model.Name}' was rejected; no alias may point to it.");
        }

        if (target.ArchivedAt is not null)
        {
            throw new ConflictException($"Version {target.Version} of '{model.Name}' is archived; no alias may point to it.");
        }

        if (isProtected && target.Status != VersionStatus.Approved)
        {
            throw new ConflictException($"'{aliasName}' is a protected alias: only approved versions may take it, and version {target.Version} is {target.Status}.");
        }
    }
}

public sealed record DeleteAlias(ClaimsPrincipal Caller, string Project, string Name, string Alias) : ICommand;

/// <summary>Removes an alias; the history keeps a row for the deletion (to version null).</summary>
public sealed class DeleteAliasHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, TimeProvider clock, VersionLookupCache cache) : ICommandHandler<DeleteAlias>
{
    public async ValueTask<Unit> Handle(DeleteAlias command, CancellationToken cancellationToken)
    {
        var (access, model) = await AliasRules.AuthorizeAsync(db, authorizer, command.Caller, command.Project, command.Name, command.Alias, cancellationToken);
        var caller = command.Caller.SubjectId();
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
            // Judged on the protection rules it read, like a move (AliasRules.LockProtectionAsync).
            if (!await AliasRules.LockProtectionAsync(db, model, cancellationToken))
            {
                await transaction.RollbackAsync(cancellationToken);
                model = await AliasRules.RejudgeAsync(db, model, command.Alias, async ct => await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Approve, ct), cancellationToken);
                if (attempt >= AliasRules.MaxAttempts)
                {
                    throw new ConflictException($"The protected aliases of '{model.Name}' are being changed at this moment; try again.");
                }

                continue;
            }

            var now = ModelLookup.Now(clock);
            var alias = await db.Aliases.SingleOrDefaultAsync(a => a.ModelId == model.Id && a.Alias == command.Alias, cancellationToken)
                ?? throw new NotFoundException("Alias", $"{model.Name}@{command.Alias}");
            db.Aliases.Remove(alias);
            var revision = alias.Revision + 1;
            db.AliasHistory.Add(new AliasHistoryEntry
            {
                Id = Guid.CreateVersion7(),
                ModelId = model.Id,
                Alias = command.Alias,
                Revision = revision,
                FromVersion = alias.Version,
                ToVersion = null,
                MovedAt = now,
                MovedBy = caller,
            });
            db.AddIntegrationEvent(
                new AliasMoved(Guid.CreateVersion7(), now, access.ProjectId, access.ProjectName, model.Id, model.Name, command.Alias, alias.Version, null, revision, caller),
                clock);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
                cache.Invalidate(model.Id);
                return Unit.Value;
            }
            catch (DbUpdateException) when (attempt < AliasRules.MaxAttempts)
            {
                await transaction.RollbackAsync(cancellationToken);
                await AliasRules.BackOffAsync(attempt, cancellationToken);
            }
            catch (DbUpdateException)
            {
                throw new ConflictException($"The alias '{command.Alias}' is being moved by others at this moment; try again.");
            }
        }
    }
}

public sealed record ListAliases(ClaimsPrincipal Caller, string Project, string Name) : IQuery<IReadOnlyList<AliasDto>>;

public sealed class ListAliasesHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListAliases, IReadOnlyList<AliasDto>>
{
    public async ValueTask<IReadOnlyList<AliasDto>> Handle(ListAliases query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var aliases = await db.Aliases.AsNoTracking().Where(a => a.ModelId == model.Id).OrderBy(a => a.Alias).ToListAsync(cancellationToken);
        return aliases.Select(a => new AliasDto(a.Alias, a.Version, a.Revision, model.IsProtected(a.Alias), a.UpdatedAt, a.UpdatedBy)).ToList();
    }
}

public sealed record GetAlias(ClaimsPrincipal Caller, string Project, string Name, string Alias) : IQuery<AliasDto>;

public sealed class GetAliasHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetAlias, AliasDto>
{
    public async ValueTask<AliasDto> Handle(GetAlias query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var alias = await db.Aliases.AsNoTracking().SingleOrDefaultAsync(a => a.ModelId == model.Id && a.Alias == query.Alias, cancellationToken)
            ?? throw new NotFoundException("Alias", $"{model.Name}@{query.Alias}");
        return new AliasDto(alias.Alias, alias.Version, alias.Revision, model.IsProtected(alias.Alias), alias.UpdatedAt, alias.UpdatedBy);
    }
}

public sealed record GetAliasHistory(ClaimsPrincipal Caller, string Project, string Name, string Alias) : IQuery<IReadOnlyList<AliasHistoryDto>>;

/// <summary>Every move of the alias, oldest first (by revision); 404 for an alias that never existed.</summary>
public sealed class GetAliasHistoryHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetAliasHistory, IReadOnlyList<AliasHistoryDto>>
{
    public async ValueTask<IReadOnlyList<AliasHistoryDto>> Handle(GetAliasHistory query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        var history = await db.AliasHistory.AsNoTracking().Where(h => h.ModelId == model.Id && h.Alias == query.Alias)
            .OrderBy(h => h.Revision)
            .Select(h => new AliasHistoryDto(h.Alias, h.Revision, h.FromVersion, h.ToVersion, h.MovedAt, h.MovedBy))
            .ToListAsync(cancellationToken);
        // Every alias that ever existed has its creation here (a deleted one its deletion too):
        // no rows means no such alias, as for the alias itself.
        return history.Count > 0 ? history : throw new NotFoundException("Alias", $"{model.Name}@{query.Alias}");
    }
}
