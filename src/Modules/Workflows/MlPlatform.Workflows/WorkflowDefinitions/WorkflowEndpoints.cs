using System.Security.Claims;
using System.Text.Json.Nodes;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.Workflows.WorkflowDefinitions;

/// <summary>/api/v1/projects/{project}/workflows: versioned workflow definitions.</summary>
public static class WorkflowEndpoints
{
    public static void MapWorkflowEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var workflows = endpoints.MapGroup("/api/v1/projects/{project}/workflows")
            .WithTags("Workflows")
            .RequireAuthorization(PlatformPolicies.Authenticated);
        string[] bodyTypes = [.. DefinitionBody.JsonTypes, .. DefinitionBody.YamlTypes];

        workflows.MapPost("/", async Task<Results<Created<WorkflowDto>, Ok<WorkflowDto>>> (string project, HttpRequest request, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var (content, format) = await DefinitionBody.ReadAsync(request, ct);
                var result = await mediator.Send(new SubmitWorkflow(user, project, content, format), ct);
                var workflow = result.Workflow;
                // Project and workflow names match ^[a-z0-9][a-z0-9-]{1,62}$, so they are safe in a header.
                var location = $"/api/v1/projects/{workflow.Project}/workflows/{workflow.Name}/versions/{workflow.Version}";
                return result.Created ? TypedResults.Created(location, workflow) : TypedResults.Ok(workflow);
            })
            .Accepts<JsonObject>(bodyTypes[0], bodyTypes[1..])
            .WithSummary("Create a workflow or its next version from a JSON or YAML definition (200 with the latest version when unchanged)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        workflows.MapPost("/validate", async Task<Ok<ValidationResultDto>> (string project, HttpRequest request, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var (content, format) = await DefinitionBody.ReadAsync(request, ct);
                return TypedResults.Ok(await mediator.Send(new ValidateWorkflow(user, project, content, format), ct));
            })
            .Accepts<JsonObject>(bodyTypes[0], bodyTypes[1..])
            .WithSummary("Dry run: validate a definition without storing it (the same errors as a submit)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        workflows.MapGet("/", async Task<Ok<Page<WorkflowSummaryDto>>> (string project, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListWorkflows(user, project, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("The project's workflows, by name")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        workflows.MapGet("/{name}", async Task<Ok<WorkflowDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetWorkflow(user, project, name), ct)))
            .WithSummary("A workflow at its latest version, with the definition")
            .ProducesProblem(StatusCodes.Status404NotFound);

        workflows.MapGet("/{name}/versions", async Task<Ok<Page<WorkflowVersionSummaryDto>>> (string project, string name, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListWorkflowVersions(user, project, name, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("A workflow's versions, newest first")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        workflows.MapGet("/{name}/versions/{version:int}", async Task<Ok<WorkflowDto>> (string project, string name, int version, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetWorkflow(user, project, name, version), ct)))
            .WithSummary("A workflow at one version, with that version's definition")
            .ProducesProblem(StatusCodes.Status404NotFound);

        workflows.MapDelete("/{name}", async Task<NoContent> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new DeleteWorkflow(user, project, name), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Delete a workflow (its versions stay for the runs pinned to them; the name is free again)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
