using System.Diagnostics;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MlPlatform.Gateway.Contracts;
using MlPlatform.SharedKernel.Modules;
using Serilog.Context;
using Serilog.Events;
using Serilog.Parsing;

namespace MlPlatform.IntegrationTests.Gateway;

/// <summary>
/// A module of the tests for the edge: endpoints with per-group body limits and the auth policy,
/// a tiny authentication scheme (the <see cref="SubjectHeader"/> names the principal's <c>sub</c>),
/// and a way to choose the connection's address, which the test server leaves empty.
/// </summary>
public sealed class EdgeProbeModule : IModule
{
    public const string SubjectHeader = "X-Test-Subject";

    /// <summary>The connection's remote address; without it each request comes from a fresh random address.</summary>
    public const string PeerHeader = "X-Test-Peer";

    public const long GroupBodyLimit = 512;

    public const long RaisedBodyLimit = 64 * 1024;

    public string Name => "EdgeProbe";

    public string Schema => "edge_probe";

    public Type? DbContextType => null;

    public void AddServices(IServiceCollection services, ModuleContext context)
    {
        services.AddTransient<IStartupFilter, PeerAddressStartupFilter>();
        services.AddAuthentication(TestAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, TestAuthenticationHandler>(TestAuthenticationHandler.SchemeName, null);
    }

    public void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        var edge = endpoints.MapGroup("/test/edge").AllowAnonymous();
        edge.MapGet("/ping", (HttpContext context) => TypedResults.Ok(new { subject = context.User.FindFirst("sub")?.Value }));
        edge.MapPost("/login", () => TypedResults.Ok()).RequireRateLimiting(EdgePolicies.Auth);
        edge.MapGet("/fail", (HttpContext _) => throw new InvalidOperationException("fails on purpose"));
        edge.MapPost("/bytes", ReadBody);
        edge.MapGet("/context", () =>
        {
            // What a log event written now would carry, and the tag on the request's activity.
            var logEvent = new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Information, null, new MessageTemplateParser().Parse("probe"), []);
            LogContext.Clone().Enrich(logEvent, new PropertyFactory());
            return TypedResults.Ok(new
            {
                logged = logEvent.Properties.TryGetValue("CorrelationId", out var value) ? ((ScalarValue)value).Value as string : null,
                tagged = Activity.Current?.GetTagItem("correlation.id") as string,
            });
        });

        var uploads = edge.MapGroup("/uploads").WithRequestBodyLimit(GroupBodyLimit);
        uploads.MapPost("/small", ReadBody);
        uploads.MapPost("/large", ReadBody).WithRequestBodyLimit(RaisedBodyLimit);
    }

    private static async Task<IResult> ReadBody(HttpRequest request)
    {
        using var sink = new MemoryStream();
        await request.Body.CopyToAsync(sink);
        return TypedResults.Ok(new { bytes = sink.Length });
    }

    private sealed class PropertyFactory : Serilog.Core.ILogEventPropertyFactory
    {
        public LogEventProperty CreateProperty(string name, object? value, bool destructureObjects = false) => new(name, new ScalarValue(value));
    }

    private sealed class PeerAddressStartupFilter : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                context.Connection.RemoteIpAddress = context.Request.Headers.TryGetValue(PeerHeader, out var peer)
                    ? IPAddress.Parse(peer.ToString())
                    : new IPAddress([198, 18, (byte)RandomNumberGenerator.GetInt32(256), (byte)RandomNumberGenerator.GetInt32(1, 255)]);
                return nextMiddleware(context);
            });
            next(app);
        };
    }

    private sealed class TestAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
    {
        public const string SchemeName = "EdgeTest";

        protected override Task<AuthenticateResult> HandleAuthenticateAsync()
        {
            if (Request.Headers[SubjectHeader] is not [{ Length: > 0 } subject])
            {
                return Task.FromResult(AuthenticateResult.NoResult());
            }

            var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", subject)], SchemeName));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
        }
    }
}
