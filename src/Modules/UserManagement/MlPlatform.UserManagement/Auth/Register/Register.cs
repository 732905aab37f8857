using FluentValidation;
using Mediator;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Security;
using MlPlatform.UserManagement.Users;

namespace MlPlatform.UserManagement.Auth.Register;

/// <summary>Only these fields are read: a body that also says "isAdmin" makes an ordinary user.</summary>
public sealed record RegisterRequest(string? Username, string? Email, string? Password);

public sealed record Register(string Username, string? Email, string Password) : ICommand<UserDto>;

public sealed class RegisterValidator : AbstractValidator<Register>
{
    public RegisterValidator(PasswordPolicy policy)
    {
        RuleFor(c => c.Username).ValidUsername();
        RuleFor(c => c.Email).ValidEmail();
        RuleFor(c => c.Password).ValidPassword(policy, c => c.Username);
    }
}

public sealed class RegisterHandler(UserAccounts accounts, UserManagementOptions options, IAuditLog audit) : ICommandHandler<Register, UserDto>
{
    public async ValueTask<UserDto> Handle(Register command, CancellationToken cancellationToken)
    {
        EnsureEnabled(options);
        var user = await accounts.CreateAsync(command.Username, command.Email, command.Password, isAdmin: false, cancellationToken);
        await audit.RecordAsync(new AuditEvent("user.registered", AuditOutcomes.Success, $"user/{user.Id}", ActorOverride: user.Id.ToString(), ActorTypeOverride: "user"), cancellationToken);
        return UserDto.From(user);
    }

    public static void EnsureEnabled(UserManagementOptions options)
    {
        if (!options.SelfRegistration)
        {
            throw new ForbiddenException("Self-registration is disabled; ask an administrator for an account.");
        }
    }
}
