using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Projects;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.ServiceAccounts;

public sealed record ServiceAccountDto(Guid Id, string Name, string Role, DateTimeOffset CreatedAt, IReadOnlyList<ApiKeyDto> Keys);

public sealed record ApiKeyDto(Guid Id, string Name, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, DateTimeOffset? RevokedAt, DateTimeOffset? LastUsedAt);

/// <summary>The only time the key is ever shown.</summary>
public sealed record CreatedApiKeyDto(Guid Id, string Name, string Key, DateTimeOffset ExpiresAt);

public sealed record CreateServiceAccountRequest(string? Name, string? Role);

public sealed record CreateServiceAccount(ClaimsPrincipal Caller, string Project, string Name, string Role) : ICommand<ServiceAccountDto>;

public sealed class CreateServiceAccountValidator : AbstractValidator<CreateServiceAccount>
{
    public CreateServiceAccountValidator()
    {
        RuleFor(c => c.Name).NotEmpty().Matches(ProjectRules.NamePattern())
            .WithMessage("The name must be 2 to 63 lower-case letters, digits or '-'.");
        RuleFor(c => c.Role).Must(r => Enum.TryParse<ProjectRole>(r, ignoreCase: true, out var role) && Enum.IsDefined(role))
            .WithMessage("The role must be Owner, Maintainer or Viewer.");
    }
}

public sealed class CreateServiceAccountHandler(UserManagementDbContext db, IProjectAuthorizer authorizer, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<CreateServiceAccount, ServiceAccountDto>
{
    public async ValueTask<ServiceAccountDto> Handle(CreateServiceAccount command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Manage, cancellationToken);
        if (await db.ServiceAccounts.AnyAsync(s => s.ProjectId == access.ProjectId && s.Name == command.Name, cancellationToken))
        {
            throw new ConflictException($"Project '{access.ProjectName}' already has a service account named '{command.Name}'.");
        }

        var account = new ServiceAccount
        {
            Id = Guid.CreateVersion7(),
            ProjectId = access.ProjectId,
            Name = command.Name,
            Role = Enum.Parse<ProjectRole>(command.Role, ignoreCase: true),
            CreatedBy = command.Caller.SubjectId()!.Value,
            CreatedAt = clock.GetUtcNow(),
        };
        db.ServiceAccounts.Add(account);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(new AuditEvent("serviceaccount.created", AuditOutcomes.Success, $"project/{access.ProjectName}/service-accounts/{account.Id}", access.ProjectId, Details: account.Role.ToString()), cancellationToken);
        return new ServiceAccountDto(account.Id, account.Name, account.Role.ToString(), account.CreatedAt, []);
    }
}

public sealed record ListServiceAccounts(ClaimsPrincipal Caller, string Project) : IQuery<IReadOnlyList<ServiceAccountDto>>;

public sealed class ListServiceAccountsHandler(UserManagementDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListServiceAccounts, IReadOnlyList<ServiceAccountDto>>
{
    public async ValueTask<IReadOnlyList<ServiceAccountDto>> Handle(ListServiceAccounts query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Manage, cancellationToken);
        var accounts = await db.ServiceAccounts.AsNoTracking().Where(s => s.ProjectId == access.ProjectId).OrderBy(s => s.Name).ToListAsync(cancellationToken);
        var ids = accounts.Select(a => a.Id).ToList();
        var keys = (await db.ApiKeys.AsNoTracking().Where(k => ids.Contains(k.ServiceAccountId)).ToListAsync(cancellationToken)).ToLookup(k => k.ServiceAccountId);
        return accounts.Select(a => new ServiceAccountDto(a.Id, a.Name, a.Role.ToString(), a.CreatedAt,
            keys[a.Id].OrderBy(k => k.CreatedAt).Select(k => new ApiKeyDto(k.Id, k.Name, k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt)).ToList())).ToList();
    }
}

public sealed record CreateApiKeyRequest(string? Name, DateTimeOffset? ExpiresAt);

public sealed record CreateApiKey(ClaimsPrincipal Caller, string Project, Guid ServiceAccountId, string Name, DateTimeOffset? ExpiresAt) : ICommand<CreatedApiKeyDto>;

public sealed class CreateApiKeyValidator : AbstractValidator<CreateApiKey>
{
    public CreateApiKeyValidator(TimeProvider clock)
    {
        RuleFor(c => c.Name).NotEmpty().MaximumLength(64);
        RuleFor(c => c.ExpiresAt).Must(e => e is null || e > clock.GetUtcNow()).WithMessage("The expiry must be in the future.");
    }
}

public sealed class CreateApiKeyHandler(UserManagementDbContext db, IProjectAuthorizer authorizer, UserManagementOptions options, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<CreateApiKey, CreatedApiKeyDto>
{
    public async ValueTask<CreatedApiKeyDto> Handle(CreateApiKey command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Manage, cancellationToken);
        var account = await db.ServiceAccounts.AsNoTracking().SingleOrDefaultAsync(s => s.Id == command.ServiceAccountId && s.ProjectId == access.ProjectId, cancellationToken)
            ?? throw new NotFoundException("Service account", command.ServiceAccountId.ToString());
        var now = clock.GetUtcNow();
        var latest = now + options.ApiKeyMaxLifetime;
        var expires = command.ExpiresAt is { } requested && requested < latest ? requested.ToUniversalTime() : latest;
        var (keyId, key, hash) = ApiKeyService.Create();
        db.ApiKeys.Add(new ApiKey { Id = keyId, ServiceAccountId = account.Id, Name = command.Name, SecretHash = hash, CreatedAt = now, ExpiresAt = expires });
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(new AuditEvent("apikey.created", AuditOutcomes.Success, $"apikey/{keyId}", access.ProjectId, Details: $"service account {account.Name}"), cancellationToken);
        return new CreatedApiKeyDto(keyId, command.Name, key, expires);
    }
}

public sealed record RevokeApiKey(ClaimsPrincipal Caller, string Project, Guid ServiceAccountId, Guid KeyId) : ICommand<Unit>;

public sealed class RevokeApiKeyHandler(UserManagementDbContext db, IProjectAuthorizer authorizer, ApiKeyService keys, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<RevokeApiKey, Unit>
{
    public async ValueTask<Unit> Handle(RevokeApiKey command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Manage, cancellationToken);
        var key = await (
            from k in db.ApiKeys
            join s in db.ServiceAccounts on k.ServiceAccountId equals s.Id
            where k.Id == command.KeyId && s.Id == command.ServiceAccountId && s.ProjectId == access.ProjectId
            select k).SingleOrDefaultAsync(cancellationToken)
            ?? throw new NotFoundException("API key", command.KeyId.ToString());
        key.RevokedAt ??= clock.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        keys.Forget(key.Id);
        await audit.RecordAsync(new AuditEvent("apikey.revoked", AuditOutcomes.Success, $"apikey/{key.Id}", access.ProjectId), cancellationToken);
        return Unit.Value;
    }
}
