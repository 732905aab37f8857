namespace MlPlatform.UserManagement.Contracts;

/// <summary>
/// Security events and state changes worth an audit entry beyond the request itself (every
/// state-changing request is recorded automatically). Actor, time, trace id and client address are
/// taken from the current request when there is one.
/// </summary>
public interface IAuditLog
{
    ValueTask RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default);
}

/// <param name="Action">What happened, dotted: <c>auth.login</c>, <c>project.member.role_changed</c>.</param>
/// <param name="Outcome"><c>success</c>, <c>failure</c> or <c>denied</c>.</param>
/// <param name="Resource">What it happened to: <c>user/{id}</c>, <c>project/{name}</c>.</param>
/// <param name="ActorOverride">The actor when there is no authenticated principal yet (a login attempt's user id or name).</param>
/// <param name="ActorTypeOverride"><c>user</c> or <c>service</c> for an <paramref name="ActorOverride"/> that is known; otherwise it is recorded as claimed.</param>
public sealed record AuditEvent(
    string Action,
    string Outcome,
    string? Resource = null,
    Guid? ProjectId = null,
    string? Details = null,
    string? ActorOverride = null,
    string? ActorTypeOverride = null);

public static class AuditOutcomes
{
    public const string Success = "success";
    public const string Failure = "failure";
    public const string Denied = "denied";
}

/// <summary>
/// Endpoint metadata for a POST that changes nothing (an inference call): the per-request audit
/// entry is skipped, so reads over POST do not pay a database write each. Security events are still
/// recorded through <see cref="IAuditLog"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false)]
public sealed class NotAuditedAttribute : Attribute
{
}
