using System.Text.RegularExpressions;
using FluentValidation;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.Users;

public sealed record UserDto(Guid Id, string Username, string? Email, bool IsAdmin, bool IsDisabled, DateTimeOffset CreatedAt, DateTimeOffset? LastLoginAt)
{
    public static UserDto From(User user) => new(user.Id, user.Username, user.Email, user.IsAdmin, user.IsDisabled, user.CreatedAt, user.LastLoginAt);
}

/// <summary>Names, e-mail addresses and passwords as accounts accept them; shared by every way an account is made.</summary>
public static partial class AccountRules
{
    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9._-]{2,63}\z")]
    private static partial Regex UsernamePattern();

    public static IRuleBuilderOptions<T, string> ValidUsername<T>(this IRuleBuilder<T, string> rule) =>
        rule.NotEmpty().Matches(UsernamePattern())
            .WithMessage("The username must be 3 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.");

    public static IRuleBuilderOptions<T, string?> ValidEmail<T>(this IRuleBuilder<T, string?> rule) =>
        rule.MaximumLength(254).EmailAddress();

    public static IRuleBuilderOptions<T, string> ValidPassword<T>(this IRuleBuilder<T, string> rule, PasswordPolicy policy, Func<T, string?> username) =>
        rule.Custom((password, context) =>
        {
            foreach (var problem in policy.Check(password, username(context.InstanceToValidate)))
            {
                context.AddFailure(problem);
            }
        }).NotNull();
}

/// <summary>Creates users with hashed passwords; duplicates answer 409.</summary>
public sealed class UserAccounts(UserManagementDbContext db, PasswordHasher hasher, TimeProvider clock)
{
    public async Task<User> CreateAsync(string username, string? email, string password, bool isAdmin, CancellationToken cancellationToken)
    {
        var normalizedName = username.ToLowerInvariant();
        var normalizedEmail = string.IsNullOrWhiteSpace(email) ? null : email.Trim().ToLowerInvariant();
        await EnsureUnique(normalizedName, normalizedEmail, cancellationToken);

        var now = clock.GetUtcNow();
        var user = new User
        {
            Id = Guid.CreateVersion7(),
            Username = username,
            NormalizedUsername = normalizedName,
            Email = normalizedEmail is null ? null : email!.Trim(),
            NormalizedEmail = normalizedEmail,
            PasswordHash = await hasher.HashAsync(password, cancellationToken),
            IsAdmin = isAdmin,
            CreatedAt = now,
            PasswordChangedAt = now,
        };
        db.Users.Add(user);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch (DbUpdateException)
        {
            // Lost a race with a concurrent request for the same name or address.
            db.Entry(user).State = EntityState.Detached;
            await EnsureUnique(normalizedName, normalizedEmail, cancellationToken);
            throw;
        }

        return user;
    }

    private async Task EnsureUnique(string normalizedName, string? normalizedEmail, CancellationToken cancellationToken)
    {
        if (await db.Users.AnyAsync(u => u.NormalizedUsername == normalizedName || u.NormalizedUsername == normalizedEmail, cancellationToken))
        {
            throw new ConflictException("That username is already taken.");
        }

        if (normalizedEmail is not null && await db.Users.AnyAsync(u => u.NormalizedEmail == normalizedEmail || u.NormalizedEmail == normalizedName, cancellationToken))
        {
            throw new ConflictException("That e-mail address is already registered.");
        }
    }
}
