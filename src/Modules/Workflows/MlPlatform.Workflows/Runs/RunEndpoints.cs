using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
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

        runs.MapGet("/", async Task<Ok<Page<RunSummaryDto>>> (string project, string? workflow, string? state, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListRuns(user, project, workflow, state, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("The project's runs, newest first, filtered by workflow and state")
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
    }
}
