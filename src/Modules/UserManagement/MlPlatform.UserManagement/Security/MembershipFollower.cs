using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// Makes every host drop what it remembers of a membership soon after any host changed it. The
/// outbox dispatcher hands each event to one host only, so each host reads this module's outbox
/// itself every <see cref="UserManagementOptions.MembershipPollInterval"/> for
/// <see cref="ProjectMembershipChanged"/> rows and forgets the pair, which also moves
/// <see cref="IAccessRevision"/> for the caches other modules keep. A removed member loses access on
/// every host within about one interval instead of a cache lifetime. An event committed more than
/// <see cref="Lookback"/> after it occurred is missed here; the caches' own expiry still bounds it.
/// </summary>
public sealed partial class MembershipFollower(
    IServiceScopeFactory scopes,
    ProjectAuthorizer authorizer,
    UserManagementOptions options,
    TimeProvider clock,
    ILogger<MembershipFollower> logger) : OutboxFollower<UserManagementDbContext>(scopes, clock, [typeof(ProjectMembershipChanged)])
{
    protected override TimeSpan Interval => options.MembershipPollInterval;

    // The database is away for a moment: cached answers expire on their own meanwhile.
    protected override void OnFailed(Exception exception) => LogFollowFailed(logger, exception);

    protected override Task<int> OnRowsAsync(IReadOnlyList<(Guid Id, DateTimeOffset OccurredAt, string Payload)> rows, CancellationToken cancellationToken)
    {
        var forgotten = 0;
        foreach (var row in rows)
        {
            var projectId = OutboxWindow.Field(row.Payload, "projectId", v => v.TryGetGuid(out var id) ? id : (Guid?)null);
            var userId = OutboxWindow.Field(row.Payload, "userId", v => v.TryGetGuid(out var id) ? id : (Guid?)null);
            if (projectId is { } project && userId is { } user)
            {
                authorizer.Forget(project, user);
                forgotten++;
            }
        }

        return Task.FromResult(forgotten);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the user-management outbox for membership changes failed; cached authorization answers expire on their own meanwhile")]
    private static partial void LogFollowFailed(ILogger logger, Exception exception);
}
