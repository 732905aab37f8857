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
/// on by default) the registrant may not decide on their own version. A version is decided once:
/// the status is a concurrency token, so of two concurrent decisions one wins and the other gets 409.
/// </summary>
public sealed class DecideVersionHandler(ModelRegistryDbContext db, IProjectAuthorizer authorizer, ModelRegistrySettings settings, TimeProvider clock, VersionLookupCache cache)
    : ICommandHandler<DecideVersion, ModelVersionDto>
{
    public async ValueTask<ModelVersionDto> Handle(DecideVersion command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Approve, cancellationToken);
        var model = await ModelLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken);
        var version = await ModelLookup.FindVersionAsync(db, model, command.Version, cancellationToken, tracked: true);
        var caller = command.Caller.SubjectId();
        if (settings.RequireTwoPersonApproval && version.CreatedBy is { } registrant && registrant == caller)
        {
            throw new ForbiddenException("The two-person rule is on: the registrant of a version may not approve or reject it.");
        }

        if (version.Status != VersionStatus.Pending)
        {
            throw new ConflictException($"Version {version.Version} of '{model.Name}' is already {version.Status}.");
        }

        var now = ModelLookup.Now(clock);
        version.Status = command.Approve ? VersionStatus.Approved : VersionStatus.Rejected;
        version.DecidedAt = now;
        version.DecidedBy = caller;
        version.DecisionComment = command.Comment;
        if (command.Approve)
        {
            db.AddIntegrationEvent(new ModelVersionApproved(Guid.CreateVersion7(), now, access.ProjectId, access.ProjectName, model.Id, model.Name, version.Version, caller, command.Comment), clock);
        }
        else
        {
            db.AddIntegrationEvent(new ModelVersionRejected(Guid.CreateVersion7(), now, access.ProjectId, access.ProjectName, model.Id, model.Name, version.Version, caller, command.Comment), clock);
        }

        try
        {
            await db.SaveChangesAsync(cancellationToken);
            cache.Invalidate(model.Id);
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new ConflictException($"Version {version.Version} of '{model.Name}' was decided or changed by someone else at this moment; look again.");
        }

        return VersionMapping.ToDto(access.ProjectName, model, version);
    }
}
