using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// One scheme for every caller: a JWT access token (<c>Authorization: Bearer</c>) or a service
/// account's API key (as the bearer token or in <c>X-Api-Key</c>). Failures answer 401 and 403
/// as problem details.
/// </summary>
public sealed class PlatformAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    TokenService tokens,
    ApiKeyService apiKeys,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Platform";
    private const string ErrorItem = "mlp.auth.error";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? credential = null;
        var authorization = Request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            credential = authorization["Bearer ".Length..].Trim();
        }
        else if (Request.Headers.TryGetValue("X-Api-Key", out var apiKey))
        {
            credential = apiKey.ToString().Trim();
        }
        else if (authorization.Length > 0)
        {
            return Fail("Only Bearer credentials are accepted.");
        }

        if (string.IsNullOrEmpty(credential))
        {
            return AuthenticateResult.NoResult();
        }

        var (principal, error) = ApiKeyService.LooksLikeKey(credential)
            ? await apiKeys.ValidateAsync(credential, Context.RequestAborted)
            : await tokens.ValidateAsync(credential, Context.RequestAborted);
        return principal is null ? Fail(error!) : AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    private AuthenticateResult Fail(string error)
    {
        Context.Items[ErrorItem] = error;
        return AuthenticateResult.Fail(error);
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var error = Context.Items[ErrorItem] as string;
        Response.Headers.WWWAuthenticate = error is null ? "Bearer" : "Bearer error=\"invalid_token\"";
        return problems.WriteProblemAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            error ?? "Authentication is required: send a bearer access token or an API key.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        problems.WriteProblemAsync(Context, StatusCodes.Status403Forbidden, "Forbidden", "You are not allowed to do this.");
}
