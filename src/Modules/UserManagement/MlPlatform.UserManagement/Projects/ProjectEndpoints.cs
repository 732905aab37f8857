using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.ServiceAccounts;

namespace MlPlatform.UserManagement.Projects;

/// <summary>/api/v1/projects: projects, their members and their service accounts with API keys.</summary>
public static class ProjectEndpoints
{
    public static void MapProjectEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var projects = endpoints.MapGroup("/api/v1/projects").WithTags("Projects").RequireAuthorization(PlatformPolicies.Authenticated);

        projects.MapPost("/", async Task<Created<ProjectDto>> (CreateProjectRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var created = await mediator.Send(new CreateProject(user, body.Name ?? string.Empty, body.Description), ct);
                return TypedResults.Created($"/api/v1/projects/{created.Name}", created);
            })
            .WithSummary("Create a project; you become its Owner")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict);

        projects.MapGet("/", async Task<Ok<IReadOnlyList<ProjectDto>>> (ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListProjects(user), ct)))
            .WithSummary("The projects you are a member of");

        projects.MapGet("/{project}", async Task<Ok<ProjectDto>> (string project, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetProject(user, project), ct)))
            .WithSummary("A project you are a member of")
            .ProducesProblem(StatusCodes.Status404NotFound);

        projects.MapGet("/{project}/members", async Task<Ok<IReadOnlyList<MemberDto>>> (string project, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListMembers(user, project), ct)))
            .WithSummary("The project's members and their roles")
            .ProducesProblem(StatusCodes.Status404NotFound);

        projects.MapPut("/{project}/members/{userId:guid}", async Task<Ok<MemberDto>> (string project, Guid userId, PutMemberRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new PutMember(user, project, userId, body.Role ?? string.Empty, body.IsApprover), ct)))
            .WithSummary("Add a member or change a member's role and approver right (Owners)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        projects.MapDelete("/{project}/members/{userId:guid}", async Task<NoContent> (string project, Guid userId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new RemoveMember(user, project, userId), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Remove a member (Owners)")
            .ProducesProblem(StatusCodes.Status409Conflict);

        projects.MapPost("/{project}/service-accounts", async Task<Created<ServiceAccountDto>> (string project, CreateServiceAccountRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var created = await mediator.Send(new CreateServiceAccount(user, project, body.Name ?? string.Empty, body.Role ?? string.Empty), ct);
                return TypedResults.Created($"/api/v1/projects/{project}/service-accounts/{created.Id}", created);
            })
            .WithSummary("Create a service account with a role in the project (Owners)")
            .ProducesProblem(StatusCodes.Status409Conflict);

        projects.MapGet("/{project}/service-accounts", async Task<Ok<IReadOnlyList<ServiceAccountDto>>> (string project, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListServiceAccounts(user, project), ct)))
            .WithSummary("The project's service accounts and their keys (never the secrets)");

        projects.MapPost("/{project}/service-accounts/{accountId:guid}/keys", async Task<Created<CreatedApiKeyDto>> (string project, Guid accountId, CreateApiKeyRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var created = await mediator.Send(new CreateApiKey(user, project, accountId, body.Name ?? string.Empty, body.ExpiresAt), ct);
                return TypedResults.Created($"/api/v1/projects/{project}/service-accounts/{accountId}/keys/{created.Id}", created);
            })
            .WithSummary("Create an API key; the key is in this answer only")
            .ProducesProblem(StatusCodes.Status404NotFound);

        projects.MapDelete("/{project}/service-accounts/{accountId:guid}/keys/{keyId:guid}", async Task<NoContent> (string project, Guid accountId, Guid keyId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new RevokeApiKey(user, project, accountId, keyId), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Revoke an API key")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
