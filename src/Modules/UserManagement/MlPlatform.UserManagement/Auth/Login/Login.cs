using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.Auth.Login;

public sealed record LoginRequest(string? Username, string? Password);

public sealed record Login(string Username, string Password, string? ClientAddress, string? UserAgent) : ICommand<TokenResponse>;

public sealed class LoginValidator : AbstractValidator<Login>
{
    public LoginValidator()
    {
        RuleFor(c => c.Username).NotEmpty().MaximumLength(254);
        RuleFor(c => c.Password).NotEmpty().MaximumLength(PasswordPolicy.MaxLength);
    }
}

/// <summary>
/// Username or e-mail plus password. An unknown name, a wrong password and a disabled account
/// give the same answer after the same work; repeated failures slow down, then answer 429.
/// </summary>
public sealed class LoginHandler(
    UserManagementDbContext db,
    PasswordHasher hasher,
    LoginThrottle throttle,
    SessionIssuer sessions,
    IAuditLog audit,
    TimeProvider clock) : ICommandHandler<Login, TokenResponse>
{
    private const string InvalidCredentials = "Invalid username or password.";

    public async ValueTask<TokenResponse> Handle(Login command, CancellationToken cancellationToken)
    {
        var login = command.Username.Trim();
        if (throttle.RetryAfter(login, command.ClientAddress) is { } wait)
        {
            await audit.RecordAsync(new AuditEvent("auth.login", AuditOutcomes.Denied, Details: "throttled", ActorOverride: login), cancellationToken);
            throw new TooManyRequestsException(wait, "Too many failed logins. Try again later.");
        }

        var normalized = login.ToLowerInvariant();
        var user = await db.Users.SingleOrDefaultAsync(u => u.NormalizedUsername == normalized || u.NormalizedEmail == normalized, cancellationToken);
        if (user is not null && throttle.RetryAfter(login, command.ClientAddress, user.Id) is { } accountWait)
        {
            // Locked under another of its names (the username while this is the e-mail address, say).
            await audit.RecordAsync(new AuditEvent("auth.login", AuditOutcomes.Denied, $"user/{user.Id}", Details: "throttled", ActorOverride: user.Id.ToString(), ActorTypeOverride: "user"), cancellationToken);
            throw new TooManyRequestsException(accountWait, "Too many failed logins. Try again later.");
        }

        var valid = false;
        var needsRehash = false;
        if (user is null)
        {
            await hasher.VerifyDummyAsync(command.Password, cancellationToken);
        }
        else
        {
            (valid, needsRehash) = await hasher.VerifyAsync(command.Password, user.PasswordHash, cancellationToken);
        }

        if (!valid || user is null || user.IsDisabled)
        {
            var delay = throttle.Fail(login, command.ClientAddress, user?.Id);
            await audit.RecordAsync(
                new AuditEvent("auth.login", AuditOutcomes.Failure, user is null ? null : $"user/{user.Id}",
                    Details: user is { IsDisabled: true } ? "disabled" : "invalid credentials", ActorOverride: user?.Id.ToString() ?? login,
                    ActorTypeOverride: user is null ? null : "user"),
                cancellationToken);
            if (delay > TimeSpan.Zero)
            {
                await Task.Delay(delay, clock, cancellationToken);
            }

            throw new UnauthorizedException(InvalidCredentials);
        }

        throttle.Succeed(login, user.Id);
        if (needsRehash)
        {
            user.PasswordHash = await hasher.HashAsync(command.Password, cancellationToken);
        }

        user.LastLoginAt = clock.GetUtcNow();
        var response = sessions.Start(db, user, command.ClientAddress, command.UserAgent);
        await db.SaveChangesAsync(cancellationToken);
        await audit.RecordAsync(new AuditEvent("auth.login", AuditOutcomes.Success, $"user/{user.Id}", ActorOverride: user.Id.ToString(), ActorTypeOverride: "user"), cancellationToken);
        return response;
    }
}
