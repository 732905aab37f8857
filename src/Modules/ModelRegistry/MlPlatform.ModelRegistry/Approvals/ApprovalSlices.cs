using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.ModelRegistry.Approvals;

public sealed record DecisionRequest(string? Comment);

/// <summary>Approves (<see cref="Approve"/> true) or rejects a pending version, with a comment.</summary>
public sealed record DecideVersion(ClaimsPrincipal Caller, string Project, string Name, int Version, bool Approve, string? Comment) : ICommand<ModelVersionDto>;

public sealed class DecideVersionValidator : AbstractValidator<DecideVersion>
{
    public DecideVersionValidator()
    {
        RuleFor(c => c.Comment).MaximumLength(2000);
    }
}

/// <summary>
/// Needs the approver right. With the two-person rule (<c>ModelRegistry:RequireTwoPersonApproval</c>,
/// on by default) the registrant may not decide on their own version. A version an alias points at
/// cannot be rejected (409): no alias may point to a rejected version. A version is decided once:
/// the status (and the row version) is a concurrency token, so of two concurrent decisions one wins
/// and the other, judging again, gets 409.
/// </summary>
public sealed class DecideVersionHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, ModelRegistrySettings settings, TimeProvider clock, VersionLookupCache cache)
    : ICommandHandler<DecideVersion, ModelVersionDto>
{
    private const int MaxAttempts = 10;

    public async ValueTask<ModelVersionDto> Handle(DecideVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Approve, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken);
        var caller = command.Caller.SubjectId();
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            var version = await ModelLookup.FindVersionAsync(db, model, command.Version, cancellationToken, tracked: true);
            if (settings.RequireTwoPersonApproval && version.CreatedBy is { } registrant && registrant == caller)
            {
                throw new ForbiddenException("The two-person rule is on: the registrant of a version may not approve or reject it.");
            }

            if (version.Status != VersionStatus.Pending)
            {
                throw new ConflictException($"Version {version.Version} of '{model.Name}' is already {version.Status}.");
            }

            if (!command.Approve)
            {
                // No alias may point to a rejected version, so a version an alias points at is not
                // rejected until the alias moves on (as for archiving). Together with the row version
                // written below, a move and a rejection racing each other cannot both succeed.
                var aliases = await db.Aliases.AsNoTracking().Where(a => a.ModelId == model.Id && a.Version == version.Version)
                    .OrderBy(a => a.Alias).Select(a => a.Alias).ToListAsync(cancellationToken);
                if (aliases.Count > 0)
                {
                    throw new ConflictException($"Version {version.Version} of '{model.Name}' still has the aliases {string.Join(", ", aliases)}; move or delete them before rejecting it.");
                }
            }

            var now = ModelLookup.Now(clock);
            version.Status = command.Approve ? VersionStatus.Approved : VersionStatus.Rejected;
            version.DecidedAt = now;
            version.DecidedBy = caller;
            version.DecisionComment = command.Comment;
            // Shared with alias moves: a move onto this version committed since the read makes this
            // save fail, so a rejection is always ordered after (or before) a move, never beside it.
            version.RowVersion++;
            if (command.Approve)
            {
                db.AddIntegrationEvent(new ModelVersionApproved(Guid.CreateVersion7(), now, access.ProjectId, access.ProjectName, model.Id, model.Name, version.Version, caller, command.Comment), clock);
            }
            else
            {
                db.AddIntegrationEvent(new ModelVersionRejected(Guid.CreateVersion7(), now, access.ProjectId, access.ProjectName, model.Id, model.Name, version.Version, caller, command.Comment), clock);
            }

            // Decided, moved onto or given metrics since the read: judge again (a decision made meanwhile answers 409 above).
            if (await VersionSave.TrySaveAsync(db, attempt, MaxAttempts, $"Version {version.Version} of '{model.Name}' is being changed by others at this moment; look again.", cancellationToken))
            {
                cache.Invalidate(model.Id);
                return VersionMapping.ToDto(access.ProjectName, model, version);
            }
        }
    }
}
