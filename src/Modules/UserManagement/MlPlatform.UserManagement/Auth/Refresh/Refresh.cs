using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.Auth.Refresh;

public sealed record RefreshRequest(string? RefreshToken);

public sealed record Refresh(string RefreshToken) : ICommand<TokenResponse>;

public sealed class RefreshValidator : AbstractValidator<Refresh>
{
    public RefreshValidator() => RuleFor(c => c.RefreshToken).NotEmpty().MaximumLength(200);
}

/// <summary>
/// Exchanges a refresh token for a new pair (rotation, RFC 9700 §4.14). A token presented a second
/// time means it was stolen or replayed: the whole session (token family) is revoked.
/// </summary>
public sealed class RefreshHandler(UserManagementDbContext db, SessionIssuer sessions, IAuditLog audit, TimeProvider clock)
    : ICommandHandler<Refresh, TokenResponse>
{
    private const string Invalid = "The refresh token is invalid or has expired.";

    public async ValueTask<TokenResponse> Handle(Refresh command, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var hash = TokenService.Hash(command.RefreshToken);
        var token = await db.RefreshTokens.SingleOrDefaultAsync(t => t.TokenHash == hash, cancellationToken)
            ?? throw new UnauthorizedException(Invalid);
        var session = await db.Sessions.SingleAsync(s => s.Id == token.SessionId, cancellationToken);

        // Consume first, conditionally: of two concurrent exchanges of one token only one wins.
        var consumed = token.ConsumedAt is null && await db.RefreshTokens
            .Where(t => t.Id == token.Id && t.ConsumedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(t => t.ConsumedAt, now), cancellationToken) == 1;
        if (!consumed)
        {
            await sessions.RevokeAsync(db.Sessions.Where(s => s.Id == session.Id), "refresh token reuse", cancellationToken);
            await audit.RecordAsync(
                new AuditEvent("auth.refresh_reuse", AuditOutcomes.Denied, $"session/{session.Id}", Details: "token family revoked", ActorOverride: session.UserId.ToString(), ActorTypeOverride: "user"),
                cancellationToken);
            throw new UnauthorizedException(Invalid);
        }

        var user = await db.Users.SingleAsync(u => u.Id == session.UserId, cancellationToken);
        if (session.RevokedAt is not null || session.ExpiresAt <= now || token.ExpiresAt <= now || user.IsDisabled)
        {
            throw new UnauthorizedException(Invalid);
        }

        session.LastUsedAt = now;
        var response = sessions.Issue(db, user, session, now);
        await db.SaveChangesAsync(cancellationToken);
        return response;
    }
}
