using System.Collections.Concurrent;
using System.Security.Claims;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// The data plane's authorization: the caller needs Read on the endpoint's project. A granted
/// check is remembered per (caller, project) for a few seconds, so a steady stream of predictions
/// pays a dictionary look-up instead of the authorizer's work, and only while no membership change
/// has reached this host since (<see cref="IAccessRevision"/>): a removed member loses access within
/// the user-management follower's interval, on every host. A caller who is not a member sees the
/// endpoint as missing (404), like every other project-scoped object.
/// </summary>
public sealed class DataPlaneAccess(IProjectAuthorizer authorizer, IAccessRevision revision, PredictionsSettings settings)
{
    private const int MaxEntries = 100_000;
    private readonly ConcurrentDictionary<(string Subject, Guid Project), (long Until, long Revision)> _granted = new();

    public ValueTask EnsureAsync(ClaimsPrincipal caller, EndpointRuntime endpoint, CancellationToken cancellationToken)
    {
        var subject = caller.FindFirstValue(PlatformClaims.Subject);
        if (subject is not null && _granted.TryGetValue((subject, endpoint.ProjectId), out var grant)
            && Environment.TickCount64 < grant.Until && grant.Revision == revision.Current)
        {
            return ValueTask.CompletedTask;
        }

        return new ValueTask(CheckAsync(caller, subject, endpoint, cancellationToken));
    }

    private async Task CheckAsync(ClaimsPrincipal caller, string? subject, EndpointRuntime endpoint, CancellationToken cancellationToken)
    {
        // Read before asking: a change that lands during the check leaves this grant already stale.
        var seen = revision.Current;
        try
        {
            await authorizer.AuthorizeAsync(caller, endpoint.ProjectName, Permission.Read, cancellationToken);
        }
        catch (NotFoundException)
        {
            throw new NotFoundException("Endpoint", endpoint.Name);
        }

        if (subject is not null)
        {
            if (_granted.Count >= MaxEntries)
            {
                _granted.Clear();
            }

            _granted[(subject, endpoint.ProjectId)] = (Environment.TickCount64 + (long)settings.AccessCacheFor.TotalMilliseconds, seen);
        }
    }
}
