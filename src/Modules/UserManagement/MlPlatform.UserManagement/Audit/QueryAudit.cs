using FluentValidation;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.UserManagement.Audit;

public sealed record AuditEntryDto(long Id, DateTimeOffset OccurredAt, string Actor, string ActorType, string Action, string? Resource, Guid? ProjectId, string Outcome, int? StatusCode, string? TraceId, string? ClientAddress, string? Details);

/// <summary>Newest first; <c>NextCursor</c> is the id to pass as <c>before</c> for the next page.</summary>
public sealed record AuditPage(IReadOnlyList<AuditEntryDto> Items, long? NextCursor);

public sealed record QueryAudit(string? Actor, string? Action, Guid? ProjectId, string? Outcome, DateTimeOffset? From, DateTimeOffset? To, long? Before, int Limit) : IQuery<AuditPage>;

public sealed class QueryAuditValidator : AbstractValidator<QueryAudit>
{
    public QueryAuditValidator()
    {
        RuleFor(q => q.Limit).InclusiveBetween(1, 1000);
        RuleFor(q => q.Actor).MaximumLength(128);
        RuleFor(q => q.Action).MaximumLength(128);
        RuleFor(q => q.Outcome).Must(o => o is null or AuditOutcomes.Success or AuditOutcomes.Failure or AuditOutcomes.Denied)
            .WithMessage("The outcome must be success, failure or denied.");
        RuleFor(q => q).Must(q => q.From is null || q.To is null || q.From <= q.To).WithMessage("'from' must not be after 'to'.");
    }
}

public sealed class QueryAuditHandler(UserManagementDbContext db) : IQueryHandler<QueryAudit, AuditPage>
{
    public async ValueTask<AuditPage> Handle(QueryAudit query, CancellationToken cancellationToken)
    {
        var entries = db.AuditLog.AsNoTracking();
        if (query.Actor is { Length: > 0 } actor)
        {
            entries = entries.Where(e => e.Actor == actor);
        }

        if (query.Action is { Length: > 0 } action)
        {
            // A trailing '*' asks for a prefix: auth.* finds every authentication event.
            entries = action.EndsWith('*') ? entries.Where(e => e.Action.StartsWith(action.TrimEnd('*'))) : entries.Where(e => e.Action == action);
        }

        if (query.ProjectId is { } project)
        {
            entries = entries.Where(e => e.ProjectId == project);
        }

        if (query.Outcome is { } outcome)
        {
            entries = entries.Where(e => e.Outcome == outcome);
        }

        if (query.From is { } from)
        {
            entries = entries.Where(e => e.OccurredAt >= from);
        }

        if (query.To is { } to)
        {
            entries = entries.Where(e => e.OccurredAt <= to);
        }

        if (query.Before is { } before)
        {
            entries = entries.Where(e => e.Id < before);
        }

        var page = await entries.OrderByDescending(e => e.Id).Take(query.Limit + 1).ToListAsync(cancellationToken);
        var items = page.Take(query.Limit)
            .Select(e => new AuditEntryDto(e.Id, e.OccurredAt, e.Actor, e.ActorType, e.Action, e.Resource, e.ProjectId, e.Outcome, e.StatusCode, e.TraceId, e.ClientAddress, e.Details))
            .ToList();
        return new AuditPage(items, page.Count > query.Limit ? items[^1].Id : null);
    }
}

public static class AuditEndpoints
{
    public static void MapAuditEndpoints(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapGet("/api/v1/audit", async Task<Ok<AuditPage>> (
                string? actor, string? action, Guid? projectId, string? outcome, DateTimeOffset? from, DateTimeOffset? to, long? before, int? limit,
                IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new QueryAudit(actor, action, projectId, outcome, from?.ToUniversalTime(), to?.ToUniversalTime(), before, limit ?? 100), ct)))
            .RequireAuthorization(PlatformPolicies.Admin)
            .WithTags("Audit")
            .WithSummary("Query the audit log (administrators): filters, newest first, cursor paging")
            .ProducesProblem(StatusCodes.Status400BadRequest);
}
