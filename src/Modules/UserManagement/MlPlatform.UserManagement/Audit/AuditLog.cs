using System.Diagnostics;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Domain;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Security;

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

/// <summary>
/// Records every state-changing request (POST, PUT, PATCH, DELETE) with the status it is answered
/// with. The entry is written when the response starts, so it is in the log before the caller
/// has the answer, and it carries the final status: a handler's exception becomes its 4xx or 500
/// only in the exception handler further out, after this middleware has seen the exception.
/// </summary>
public sealed partial class AuditMiddleware(RequestDelegate next, AuditLog audit, ProjectAuthorizer projects, ILogger<AuditMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        if (HttpMethods.IsGet(context.Request.Method) || HttpMethods.IsHead(context.Request.Method) || HttpMethods.IsOptions(context.Request.Method)
            || context.GetEndpoint()?.Metadata.GetMetadata<NotAuditedAttribute>() is not null)
        {
            await next(context);
            return;
        }

        var request = new AuditedRequest(context, Activity.Current?.TraceId.ToString());
        context.Response.OnStarting(() => WriteOnce(request));
        // A response that never starts (the client went away) is still recorded, afterwards.
        context.Response.OnCompleted(() => WriteOnce(request));
        try
        {
            await next(context);
        }
        catch
        {
            // The exception handler clears the endpoint and route values before it answers: keep them.
            request.CaptureRoute();
            throw;
        }
    }

    private async Task WriteOnce(AuditedRequest request)
    {
        if (Interlocked.Exchange(ref request.Written, 1) == 1)
        {
            return;
        }

        try
        {
            await WriteAsync(request);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The change has happened (or failed) already; refusing the answer would not undo it.
            LogAuditFailed(logger, request.Context.Request.Method, request.Context.Request.Path, ex);
        }
    }

    private async Task WriteAsync(AuditedRequest request)
    {
        var context = request.Context;
        request.CaptureRoute();
        var status = context.Response.StatusCode;
        var outcome = status is 401 or 403 or 429 ? AuditOutcomes.Denied : status >= 400 ? AuditOutcomes.Failure : AuditOutcomes.Success;
        var projectId = request.Project is { Length: > 0 } name ? await projects.FindProjectIdAsync(name, CancellationToken.None) : null;
        var entry = audit.Entry(
            new AuditEvent($"{context.Request.Method} {request.Route ?? "(no route)"}", outcome, context.Request.Path.Value, projectId),
            context.User,
            context,
            status);
        entry.TraceId = request.TraceId ?? entry.TraceId;
        await audit.WriteAsync(entry, CancellationToken.None);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not write the audit entry for {Method} {Path}")]
    private static partial void LogAuditFailed(ILogger logger, string method, string path, Exception exception);

    private sealed class AuditedRequest(HttpContext context, string? traceId)
    {
        public int Written;

        public HttpContext Context { get; } = context;

        public string? TraceId { get; } = traceId;

        public string? Route { get; private set; }

        /// <summary>The <c>{project}</c> route value, which every project-scoped endpoint of every module has.</summary>
        public string? Project { get; private set; }

        public void CaptureRoute()
        {
            if (Route is null && Context.GetEndpoint() is Microsoft.AspNetCore.Routing.RouteEndpoint endpoint)
            {
                Route = endpoint.RoutePattern.RawText;
                Project = Context.Request.RouteValues.TryGetValue("project", out var value) ? value?.ToString() : null;
            }
        }
    }
}
