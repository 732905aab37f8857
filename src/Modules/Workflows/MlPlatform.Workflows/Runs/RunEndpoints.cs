using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.WorkflowDefinitions;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.Workflows.Runs;

/// <summary>Starting runs (under the workflow) and reading and cancelling them (under the project).</summary>
public static class RunEndpoints
{
    public static void MapRunEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapPost("/api/v1/projects/{project}/workflows/{name}/runs", async Task<Accepted<RunStartedDto>> (string project, string name, StartRunBody? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var run = await mediator.Send(new StartRun(user, project, name, body?.Parameters), ct);
                // The project name was authorized (it matches the safe name pattern); the id is a Guid.
                return TypedResults.Accepted($"/api/v1/projects/{project}/runs/{run.Id}", run);
            })
            .WithTags("Runs")
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("Start a run of the workflow's latest version (parameters are checked against its declared types)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        var runs = endpoints.MapGroup("/api/v1/projects/{project}/runs")
            .WithTags("Runs")
            .RequireAuthorization(PlatformPolicies.Authenticated);

        runs.MapGet("/", async Task<Ok<Page<RunSummaryDto>>> (string project, string? workflow, Guid? workflowId, string? state, DateTimeOffset? from, DateTimeOffset? to, string? trigger, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListRuns(user, project, workflow, state, offset ?? 0, limit ?? 50) { WorkflowId = workflowId, From = from, To = to, Trigger = trigger }, ct)))
            .WithSummary("The project's runs, newest first, filtered by workflow (the one named so now; workflowId for any, deleted too), state, creation time [from, to) and trigger")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        runs.MapGet("/{runId:guid}", async Task<Ok<RunDto>> (string project, Guid runId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetRun(user, project, runId), ct)))
            .WithSummary("A run with every step's state, outputs and attempts")
            .ProducesProblem(StatusCodes.Status404NotFound);

        runs.MapPost("/{runId:guid}/cancel", async Task<Accepted> (string project, Guid runId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new CancelRun(user, project, runId), ct);
                return TypedResults.Accepted($"/api/v1/projects/{project}/runs/{runId}");
            })
            .WithSummary("Cancel a run: pending steps are cancelled, running steps are stopped (409 if it has finished)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        runs.MapPost("/{runId:guid}/retry", async Task<Accepted> (string project, Guid runId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new RetryRun(user, project, runId), ct);
                return TypedResults.Accepted($"/api/v1/projects/{project}/runs/{runId}");
            })
            .WithSummary("Run a failed run again from its failed steps; succeeded steps keep their outputs (409 unless the run failed)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        runs.MapPost("/{runId:guid}/steps/{stepId}/mark", async Task<Accepted> (string project, Guid runId, string stepId, MarkStepBody body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new MarkStep(user, project, runId, stepId, body.State, body.Outputs, body.Comment), ct);
                return TypedResults.Accepted($"/api/v1/projects/{project}/runs/{runId}");
            })
            .WithSummary("Mark a failed step succeeded (with outputs) or skipped, audited; the run goes on (409 unless the step failed)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        runs.MapPost("/{runId:guid}/steps/{stepId}/approve", async Task<Ok<ApprovalDto>> (string project, Guid runId, string stepId, DecisionBody? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new DecideApproval(user, project, runId, stepId, Approve: true, body?.Comment), ct)))
            .WithSummary("Approve a waiting approval step (a role or user named by the step; 403 otherwise, 409 if it is not waiting)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        runs.MapPost("/{runId:guid}/steps/{stepId}/reject", async Task<Ok<ApprovalDto>> (string project, Guid runId, string stepId, DecisionBody? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new DecideApproval(user, project, runId, stepId, Approve: false, body?.Comment), ct)))
            .WithSummary("Reject a waiting approval step: the step fails (a role or user named by the step; 403 otherwise, 409 if it is not waiting)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        runs.MapGet("/{runId:guid}/steps/{stepId}/attempts/{attempt:int}/logs", async Task<Ok<LogPageDto>> (string project, Guid runId, string stepId, int attempt, int? after, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetStepLog(user, project, runId, stepId, attempt, after ?? 0, limit ?? 200), ct)))
            .WithSummary("A page of a step attempt's log: lines after sequence 'after', oldest first")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        runs.MapGet("/{runId:guid}/steps/{stepId}/attempts/{attempt:int}/logs/stream", async Task<ServerSentEventsResult<object>> (string project, Guid runId, string stepId, int attempt, int? after, HttpRequest request, ClaimsPrincipal user, IMediator mediator, IServiceScopeFactory scopes, CancellationToken ct) =>
            {
                // Authorized before the stream starts, so a refusal is an ordinary problem answer.
                var attemptId = await mediator.Send(new FindAttempt(user, project, runId, stepId, attempt), ct);
                var from = int.TryParse(request.Headers["Last-Event-ID"], out var last) && last >= 0 ? last : Math.Max(after ?? 0, 0);
                return TypedResults.ServerSentEvents(StepLogReader.FollowAsync(scopes, attemptId, from, ct));
            })
            .WithSummary("Follow a step attempt's log as Server-Sent Events ('log' events with the line, 'end' when the attempt has finished)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        endpoints.MapGet("/api/v1/projects/{project}/approvals", async Task<Ok<Page<ApprovalDto>>> (string project, string? state, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListApprovals(user, project, state, offset ?? 0, limit ?? 50), ct)))
            .WithTags("Runs")
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("The project's approval requests, newest first (state=waiting for those needing a decision)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
