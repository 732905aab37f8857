using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.UserManagement.Auth;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.SharedKernel.Paging;

namespace MlPlatform.UserManagement.Users;

/// <summary>/api/v1/users: administrators manage accounts; everyone reads and changes their own.</summary>
public static class UserEndpoints
{
    public static void MapUserEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var users = endpoints.MapGroup("/api/v1/users").WithTags("Users");

        users.MapGet("/me", async Task<Ok<UserDto>> (ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetUser(AuthEndpoints.RequireUser(user)), ct)))
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("The calling user");

        users.MapPut("/me/password", async Task<NoContent> (PasswordRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new ChangeOwnPassword(AuthEndpoints.RequireUser(user), AuthEndpoints.SessionOf(user), body.CurrentPassword ?? string.Empty, body.NewPassword ?? string.Empty), ct);
                return TypedResults.NoContent();
            })
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("Change my password (other sessions end)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden);

        var admin = users.MapGroup(string.Empty).RequireAuthorization(PlatformPolicies.Admin);

        admin.MapPost("/", async Task<Created<UserDto>> (CreateUserRequest body, IMediator mediator, CancellationToken ct) =>
            {
                var created = await mediator.Send(new CreateUser(body.Username ?? string.Empty, body.Email, body.Password ?? string.Empty, body.IsAdmin), ct);
                return TypedResults.Created($"/api/v1/users/{created.Id}", created);
            })
            .WithSummary("Create a user (administrators)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status409Conflict);

        admin.MapGet("/", async Task<Ok<Page<UserDto>>> (string? search, int? offset, int? limit, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListUsers(search, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("List users (administrators)");

        admin.MapGet("/{userId:guid}", async Task<Ok<UserDto>> (Guid userId, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetUser(userId), ct)))
            .WithSummary("Get a user (administrators)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        admin.MapPost("/{userId:guid}/disable", async Task<Ok<UserDto>> (Guid userId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new SetUserDisabled(userId, true, user.SubjectId()!.Value), ct)))
            .WithSummary("Disable a user: their sessions end at once")
            .ProducesProblem(StatusCodes.Status404NotFound);

        admin.MapPost("/{userId:guid}/enable", async Task<Ok<UserDto>> (Guid userId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new SetUserDisabled(userId, false, user.SubjectId()!.Value), ct)))
            .WithSummary("Enable a user")
            .ProducesProblem(StatusCodes.Status404NotFound);

        admin.MapPut("/{userId:guid}/password", async Task<NoContent> (Guid userId, PasswordRequest body, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new ResetPassword(userId, body.NewPassword ?? string.Empty), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Reset a user's password (their sessions end)")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
