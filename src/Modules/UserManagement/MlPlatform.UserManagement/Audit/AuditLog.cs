using System.Diagnostics;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Audit;

/// <summary>
/// Writes audit entries in a scope of its own, so an entry is kept even when the change it
/// describes is rolled back (a refused or failed request is worth auditing too).
/// </summary>
public sealed class AuditLog(IServiceScopeFactory scopes, IHttpContextAccessor http, TimeProvider clock) : IAuditLog
{
    public async ValueTask RecordAsync(AuditEvent auditEvent, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(auditEvent);
        var context = http.HttpContext;
        await WriteAsync(Entry(auditEvent, context?.User, context, statusCode: null), cancellationToken);
    }

    internal AuditEntry Entry(AuditEvent auditEvent, ClaimsPrincipal? principal, HttpContext? context, int? statusCode)
    {
        var subject = principal?.FindFirstValue(PlatformClaims.Subject);
        return new AuditEntry
        {
            OccurredAt = clock.GetUtcNow(),
            Actor = Truncate(auditEvent.ActorOverride ?? subject ?? "anonymous", 128),
            ActorType = auditEvent.ActorTypeOverride
                ?? (subject is null ? (auditEvent.ActorOverride is null ? "anonymous" : "claimed") : principal!.IsServiceAccount() ? "service" : "user"),
            Action = Truncate(auditEvent.Action, 128),
            Resource = auditEvent.Resource is null ? null : Truncate(auditEvent.Resource, 512),
            ProjectId = auditEvent.ProjectId,
            Outcome = auditEvent.Outcome,
            StatusCode = statusCode,
            TraceId = Activity.Current?.TraceId.ToString(),
            ClientAddress = context?.Connection.RemoteIpAddress?.ToString(),
            Details = auditEvent.Details is null ? null : Truncate(auditEvent.Details, 2000),
        };
    }

    internal async Task WriteAsync(AuditEntry entry, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UserManagementDbContext>();
        db.AuditLog.Add(entry);
        // The entry must land even if the caller's request is being cancelled.
        await db.SaveChangesAsync(CancellationToken.None);
    }

    private static string Truncate(string value, int length) => value.Length <= length ? value : value[..length];
}

/// <summary>Records every state-changing request (POST, PUT, PATCH, DELETE) with its outcome.</summary>
public sealed class AuditMiddleware(RequestDelegate next, AuditLog audit)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method))
        {
            await next(context);
            return;
        }

        try
        {
            await next(context);
        }
        finally
        {
            var status = context.Response.StatusCode;
            var outcome = status is 401 or 403 or 429 ? AuditOutcomes.Denied : status >= 400 ? AuditOutcomes.Failure : AuditOutcomes.Success;
            var route = (context.GetEndpoint() as Microsoft.AspNetCore.Routing.RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
            var entry = audit.Entry(
                new AuditEvent($"{context.Request.Method} {route}", outcome, context.Request.Path.Value),
                context.User,
                context,
                status);
            await audit.WriteAsync(entry, CancellationToken.None);
        }
    }
}
