using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.Gateway.Contracts;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Auth.Login;
using MlPlatform.UserManagement.Auth.Logout;
using MlPlatform.UserManagement.Auth.Refresh;
using MlPlatform.UserManagement.Auth.Register;
using MlPlatform.UserManagement.Auth.Sessions;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Security;
using MlPlatform.UserManagement.Users;

namespace MlPlatform.UserManagement.Auth;

/// <summary>/api/v1/auth: login, refresh, logout, sessions, self-registration; and the JWKS document.</summary>
public static class AuthEndpoints
{
    public static void MapAuthEndpoints(this IEndpointRouteBuilder endpoints)
    {
        var auth = endpoints.MapGroup("/api/v1/auth").WithTags("Auth");

        auth.MapPost("/login", async Task<Ok<TokenResponse>> (LoginRequest body, HttpContext http, IMediator mediator) =>
                TypedResults.Ok(await mediator.Send(
                    new Login.Login(body.Username ?? string.Empty, body.Password ?? string.Empty, ClientAddress(http), http.Request.Headers.UserAgent.ToString()),
                    http.RequestAborted)))
            .AllowAnonymous()
            .RequireRateLimiting(EdgePolicies.Auth)
            .WithSummary("Log in with username or e-mail and password")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        auth.MapPost("/refresh", async Task<Ok<TokenResponse>> (RefreshRequest body, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new Refresh.Refresh(body.RefreshToken ?? string.Empty), ct)))
            .AllowAnonymous()
            .RequireRateLimiting(EdgePolicies.Auth)
            .WithSummary("Exchange a refresh token for a new token pair (the old one stops working)")
            .ProducesProblem(StatusCodes.Status401Unauthorized);

        auth.MapPost("/logout", async Task<NoContent> (LogoutRequest? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new Logout.Logout(RequireUser(user), SessionOf(user), body?.RefreshToken), ct);
                return TypedResults.NoContent();
            })
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("End the current session (or the one of the given refresh token)");

        auth.MapGet("/sessions", async Task<Ok<IReadOnlyList<SessionDto>>> (ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListSessions(RequireUser(user), SessionOf(user)), ct)))
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("List my active sessions");

        auth.MapDelete("/sessions/{sessionId:guid}", async Task<NoContent> (Guid sessionId, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new RevokeSession(RequireUser(user), sessionId), ct);
                return TypedResults.NoContent();
            })
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithSummary("Revoke one of my sessions")
            .ProducesProblem(StatusCodes.Status404NotFound);

        auth.MapPost("/register", async Task<Created<UserDto>> (RegisterRequest body, UserManagementOptions options, IMediator mediator, CancellationToken ct) =>
            {
                // Before validation: while the feature is off, its rules (the password policy) are nobody's business.
                RegisterHandler.EnsureEnabled(options);
                var created = await mediator.Send(new Register.Register(body.Username ?? string.Empty, body.Email, body.Password ?? string.Empty), ct);
                return TypedResults.Created($"/api/v1/users/{created.Id}", created);
            })
            .AllowAnonymous()
            .RequireRateLimiting(EdgePolicies.Auth)
            .WithSummary("Create an account yourself (when UserManagement:SelfRegistration:Enabled)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status409Conflict);

        endpoints.MapGet("/.well-known/jwks.json", async (SigningKeyStore keys, CancellationToken ct) => TypedResults.Ok(new { keys = await keys.PublishedKeysAsync(ct) }))
            .AllowAnonymous()
            .WithTags("Auth")
            .WithSummary("The public keys that validate access tokens");
    }

    internal static string? ClientAddress(HttpContext http) => http.Connection.RemoteIpAddress?.ToString();

    /// <summary>The calling user's id; service accounts have no sessions or passwords.</summary>
    internal static Guid RequireUser(ClaimsPrincipal user) =>
        !user.IsServiceAccount() && user.SubjectId() is { } id ? id : throw new ForbiddenException("Only users have sessions and passwords.");

    internal static Guid? SessionOf(ClaimsPrincipal user) =>
        Guid.TryParse(user.FindFirstValue(PlatformClaims.Session), out var id) ? id : null;
}
