using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

namespace MlPlatform.UserManagement.Auth.Sessions;

public sealed record SessionDto(Guid Id, DateTimeOffset CreatedAt, DateTimeOffset LastUsedAt, DateTimeOffset ExpiresAt, string? ClientAddress, string? UserAgent, bool Current);

public sealed record ListSessions(Guid UserId, Guid? CurrentSessionId) : IQuery<IReadOnlyList<SessionDto>>;

public sealed class ListSessionsHandler(UserManagementDbContext db, TimeProvider clock) : IQueryHandler<ListSessions, IReadOnlyList<SessionDto>>
{
    public async ValueTask<IReadOnlyList<SessionDto>> Handle(ListSessions query, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var sessions = await db.Sessions.AsNoTracking()
            .Where(s => s.UserId == query.UserId && s.RevokedAt == null && s.ExpiresAt > now)
            .OrderByDescending(s => s.LastUsedAt)
            .ToListAsync(cancellationToken);
        return sessions.Select(s => new SessionDto(s.Id, s.CreatedAt, s.LastUsedAt, s.ExpiresAt, s.ClientAddress, s.UserAgent, s.Id == query.CurrentSessionId)).ToList();
    }
}

public sealed record RevokeSession(Guid UserId, Guid SessionId) : ICommand<Unit>;

public sealed class RevokeSessionHandler(UserManagementDbContext db, SessionIssuer sessions) : ICommandHandler<RevokeSession, Unit>
{
    public async ValueTask<Unit> Handle(RevokeSession command, CancellationToken cancellationToken)
    {
        // Someone else's session id answers 404 like one that does not exist.
        var revoked = await sessions.RevokeAsync(db.Sessions.Where(s => s.Id == command.SessionId && s.UserId == command.UserId), "revoked by user", cancellationToken);
        if (revoked == 0 && !await db.Sessions.AnyAsync(s => s.Id == command.SessionId && s.UserId == command.UserId, cancellationToken))
        {
            throw new NotFoundException("Session", command.SessionId.ToString());
        }

        return Unit.Value;
    }
}
