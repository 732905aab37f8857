using Microsoft.EntityFrameworkCore;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Security;

/// <summary>The token pair a login or a refresh answers with.</summary>
public sealed record TokenResponse(string AccessToken, string RefreshToken, int ExpiresIn, string TokenType);

/// <summary>Starts sessions and rotates their refresh tokens.</summary>
public sealed class SessionIssuer(TokenService tokens, UserManagementOptions options, TimeProvider clock)
{
    public TokenResponse Start(UserManagementDbContext db, User user, string? clientAddress, string? userAgent)
    {
        var now = clock.GetUtcNow();
        var session = new Session
        {
            Id = Guid.CreateVersion7(),
            UserId = user.Id,
            CreatedAt = now,
            LastUsedAt = now,
            ExpiresAt = now + options.SessionLifetime,
            ClientAddress = clientAddress,
            UserAgent = userAgent is { Length: > 256 } ? userAgent[..256] : userAgent,
        };
        db.Sessions.Add(session);
        return Issue(db, user, session, now);
    }

    public TokenResponse Issue(UserManagementDbContext db, User user, Session session, DateTimeOffset now)
    {
        var (refresh, hash) = TokenService.CreateRefreshToken();
        var expires = now + options.RefreshTokenLifetime;
        db.RefreshTokens.Add(new RefreshToken
        {
            Id = Guid.CreateVersion7(),
            SessionId = session.Id,
            TokenHash = hash,
            CreatedAt = now,
            ExpiresAt = expires < session.ExpiresAt ? expires : session.ExpiresAt,
        });
        return new TokenResponse(tokens.CreateAccessToken(user, session.Id), refresh, (int)tokens.AccessTokenLifetime.TotalSeconds, TokenService.TokenType);
    }

    /// <summary>Ends sessions: their refresh tokens stop working at once.</summary>
    public Task<int> RevokeAsync(IQueryable<Session> sessions, string reason, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        return sessions.Where(s => s.RevokedAt == null)
            .ExecuteUpdateAsync(s => s.SetProperty(x => x.RevokedAt, now).SetProperty(x => x.RevokedReason, reason), cancellationToken);
    }
}
