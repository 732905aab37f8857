using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.UserManagement.Users;

public sealed record CreateUserRequest(string? Username, string? Email, string? Password, bool IsAdmin);

public sealed record CreateUser(string Username, string? Email, string Password, bool IsAdmin) : ICommand<UserDto>;

public sealed class CreateUserValidator : AbstractValidator<CreateUser>
{
    public CreateUserValidator(PasswordPolicy policy)
    {
        RuleFor(c => c.Username).ValidUsername();
        RuleFor(c => c.Email).ValidEmail();
        RuleFor(c => c.Password).ValidPassword(policy, c => c.Username);
    }
}

public sealed class CreateUserHandler(UserAccounts accounts, IAuditLog audit) : ICommandHandler<CreateUser, UserDto>
{
    public async ValueTask<UserDto> Handle(CreateUser command, CancellationToken cancellationToken)
    {
        var user = await accounts.CreateAsync(command.Username, command.Email, command.Password, command.IsAdmin, cancellationToken);
        await audit.RecordAsync(new AuditEvent("user.created", AuditOutcomes.Success, $"user/{user.Id}", Details: command.IsAdmin ? "admin" : null), cancellationToken);
        return UserDto.From(user);
    }
}

public sealed record ListUsers(string? Search, int Offset, int Limit) : IQuery<Page<UserDto>>;

public sealed class ListUsersValidator : AbstractValidator<ListUsers>
{
    public ListUsersValidator()
    {
        RuleFor(q => q.Offset).GreaterThanOrEqualTo(0);
        RuleFor(q => q.Limit).InclusiveBetween(1, 500);
        RuleFor(q => q.Search).MaximumLength(64);
    }
}

public sealed class ListUsersHandler(UserManagementDbContext db) : IQueryHandler<ListUsers, Page<UserDto>>
{
    public async ValueTask<Page<UserDto>> Handle(ListUsers query, CancellationToken cancellationToken)
    {
        var users = db.Users.AsNoTracking();
        if (!string.IsNullOrWhiteSpace(query.Search))
        {
            var search = query.Search.Trim().ToLowerInvariant();
            users = users.Where(u => u.NormalizedUsername.StartsWith(search) || (u.NormalizedEmail != null && u.NormalizedEmail.StartsWith(search)));
        }

        var total = await users.CountAsync(cancellationToken);
        var page = await users.OrderBy(u => u.NormalizedUsername).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<UserDto>(page.Select(UserDto.From).ToList(), total, query.Offset, query.Limit);
    }
}

public sealed record GetUser(Guid UserId) : IQuery<UserDto>;

public sealed class GetUserHandler(UserManagementDbContext db) : IQueryHandler<GetUser, UserDto>
{
    public async ValueTask<UserDto> Handle(GetUser query, CancellationToken cancellationToken) =>
        UserDto.From(await db.Users.AsNoTracking().SingleOrDefaultAsync(u => u.Id == query.UserId, cancellationToken)
            ?? throw new NotFoundException("User", query.UserId.ToString()));
}

/// <summary>Disabling ends every session at once; issued access tokens lapse within their short lifetime.</summary>
public sealed record SetUserDisabled(Guid UserId, bool Disabled, Guid ActingUserId) : ICommand<UserDto>;

public sealed class SetUserDisabledHandler(UserManagementDbContext db, SessionIssuer sessions, IAuditLog audit) : ICommandHandler<SetUserDisabled, UserDto>
{
    public async ValueTask<UserDto> Handle(SetUserDisabled command, CancellationToken cancellationToken)
    {
        if (command.Disabled && command.UserId == command.ActingUserId)
        {
            throw new ConflictException("You cannot disable your own account.");
        }

        var user = await db.Users.SingleOrDefaultAsync(u => u.Id == command.UserId, cancellationToken)
            ?? throw new NotFoundException("User", command.UserId.ToString());
        user.IsDisabled = command.Disabled;
        await db.SaveChangesAsync(cancellationToken);
        if (command.Disabled)
        {
            await sessions.RevokeAsync(db.Sessions.Where(s => s.UserId == user.Id), "user disabled", cancellationToken);
        }

        await audit.RecordAsync(new AuditEvent(command.Disabled ? "user.disabled" : "user.enabled", AuditOutcomes.Success, $"user/{user.Id}"), cancellationToken);
        return UserDto.From(user);
    }
}

public sealed record PasswordRequest(string? CurrentPassword, string? NewPassword);

/// <summary>An administrator sets a new password; the user's sessions end.</summary>
public sealed record ResetPassword(Guid UserId, string NewPassword) : ICommand<Unit>;

public sealed class ResetPasswordValidator : AbstractValidator<ResetPassword>
{
    public ResetPasswordValidator(PasswordPolicy policy) => RuleFor(c => c.NewPassword).ValidPassword(policy, _ => null);
}

public sealed class ResetPasswordHandler(UserManagementDbContext db, PasswordHasher hasher, SessionIssuer sessions, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<ResetPassword, Unit>
{
    public async ValueTask<Unit> Handle(ResetPassword command, CancellationToken cancellationToken)
    {
        var user = await db.Users.SingleOrDefaultAsync(u => u.Id == command.UserId, cancellationToken)
            ?? throw new NotFoundException("User", command.UserId.ToString());
        if (command.NewPassword.Contains(user.Username, StringComparison.OrdinalIgnoreCase))
        {
            throw new ValidationException([new FluentValidation.Results.ValidationFailure("NewPassword", "The password must not contain the username.")]);
        }

        user.PasswordHash = await hasher.HashAsync(command.NewPassword, cancellationToken);
        user.PasswordChangedAt = clock.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        await sessions.RevokeAsync(db.Sessions.Where(s => s.UserId == user.Id), "password reset", cancellationToken);
        await audit.RecordAsync(new AuditEvent("user.password_reset", AuditOutcomes.Success, $"user/{user.Id}"), cancellationToken);
        return Unit.Value;
    }
}

/// <summary>A user changes their own password, proving the current one; other sessions end.</summary>
public sealed record ChangeOwnPassword(Guid UserId, Guid? CurrentSessionId, string CurrentPassword, string NewPassword) : ICommand<Unit>;

public sealed class ChangeOwnPasswordValidator : AbstractValidator<ChangeOwnPassword>
{
    public ChangeOwnPasswordValidator(PasswordPolicy policy)
    {
        RuleFor(c => c.CurrentPassword).NotEmpty().MaximumLength(PasswordPolicy.MaxLength);
        RuleFor(c => c.NewPassword).ValidPassword(policy, _ => null);
    }
}

public sealed class ChangeOwnPasswordHandler(UserManagementDbContext db, PasswordHasher hasher, SessionIssuer sessions, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<ChangeOwnPassword, Unit>
{
    public async ValueTask<Unit> Handle(ChangeOwnPassword command, CancellationToken cancellationToken)
    {
        var user = await db.Users.SingleOrDefaultAsync(u => u.Id == command.UserId, cancellationToken)
            ?? throw new NotFoundException("User", command.UserId.ToString());
        var (valid, _) = await hasher.VerifyAsync(command.CurrentPassword, user.PasswordHash, cancellationToken);
        if (!valid)
        {
            await audit.RecordAsync(new AuditEvent("user.password_change", AuditOutcomes.Failure, $"user/{user.Id}", Details: "wrong current password"), cancellationToken);
            throw new ForbiddenException("The current password is wrong.");
        }

        if (command.NewPassword.Contains(user.Username, StringComparison.OrdinalIgnoreCase))
        {
            throw new ValidationException([new FluentValidation.Results.ValidationFailure("NewPassword", "The password must not contain the username.")]);
        }

        user.PasswordHash = await hasher.HashAsync(command.NewPassword, cancellationToken);
        user.PasswordChangedAt = clock.GetUtcNow();
        await db.SaveChangesAsync(cancellationToken);
        await sessions.RevokeAsync(db.Sessions.Where(s => s.UserId == user.Id && s.Id != command.CurrentSessionId), "password changed", cancellationToken);
        await audit.RecordAsync(new AuditEvent("user.password_change", AuditOutcomes.Success, $"user/{user.Id}"), cancellationToken);
        return Unit.Value;
    }
}
