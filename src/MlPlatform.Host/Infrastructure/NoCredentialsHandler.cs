using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Host.Infrastructure;

/// <summary>For a host without the UserManagement module: authenticates nobody and answers 401 as a problem.</summary>
internal sealed class NoCredentialsHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IProblemDetailsService problems)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "None";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync() => Task.FromResult(AuthenticateResult.NoResult());

    protected override Task HandleChallengeAsync(AuthenticationProperties properties) =>
        problems.WriteProblemAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            "This host does not run the UserManagement module and cannot authenticate callers.");
}
