using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.Auth.Logout;

public sealed record LogoutRequest(string? RefreshToken);

/// <summary>Ends the session of the given refresh token, or else the one the access token belongs to.</summary>
public sealed record Logout(Guid UserId, Guid? SessionId, string? RefreshToken) : ICommand<Unit>;

public sealed class LogoutHandler(UserManagementDbContext db, SessionIssuer sessions) : ICommandHandler<Logout, Unit>
{
    public async ValueTask<Unit> Handle(Logout command, CancellationToken cancellationToken)
    {
        var sessionId = command.SessionId;
        if (!string.IsNullOrEmpty(command.RefreshToken))
        {
            var hash = TokenService.Hash(command.RefreshToken);
            sessionId = await db.RefreshTokens.Where(t => t.TokenHash == hash).Select(t => (Guid?)t.SessionId).SingleOrDefaultAsync(cancellationToken) ?? sessionId;
        }

        if (sessionId is { } id)
        {
            // Only the caller's own session: a token of someone else's session changes nothing.
            await sessions.RevokeAsync(db.Sessions.Where(s => s.Id == id && s.UserId == command.UserId), "logout", cancellationToken);
        }

        return Unit.Value;
    }
}
