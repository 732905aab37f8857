using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Gateway.BodyLimits;
using MlPlatform.Gateway.Contracts;
using MlPlatform.Gateway.CorrelationIds;
using MlPlatform.Gateway.Cors;
using MlPlatform.Gateway.Outbound;
using MlPlatform.Gateway.RateLimits;
using MlPlatform.Gateway.SecurityHeaders;

namespace MlPlatform.Gateway;

/// <summary>
/// The platform's edge, part of every host whichever modules it runs (see ADR 0006): forwarded
/// headers, correlation ids, security headers, CORS, body limits, rate limits and the defaults for
/// outbound HTTP. The Gateway module's database is not needed for any of it.
/// </summary>
public static class PlatformEdge
{
    /// <summary>Where the host serves the interactive API reference (its pages get their own CSP).</summary>
    public const string DocsPath = "/docs";

    /// <summary>Reads and validates <c>Gateway:*</c> and registers the edge's services.</summary>
    public static EdgeSettings AddPlatformEdge(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = EdgeSettings.Read(configuration);
        services.AddSingleton(settings);

        if (settings.ForwardedHeaders.Enabled)
        {
            services.Configure<ForwardedHeadersOptions>(o =>
            {
                o.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
                o.ForwardLimit = settings.ForwardedHeaders.ForwardLimit;
                // Loopback stays trusted (ASP.NET's default): a proxy on the same machine is the common case.
                foreach (var proxy in settings.ForwardedHeaders.KnownProxies)
                {
                    o.KnownProxies.Add(proxy);
                }

                foreach (var network in settings.ForwardedHeaders.KnownNetworks)
                {
                    o.KnownIPNetworks.Add(network);
                }
            });
        }

        services.AddSingleton(_ => new EdgeRateLimiter(settings.RateLimits));
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = RateLimitResponses.WriteRejectionAsync;
            // The auth buckets live in EdgeRateLimiter with the others; this entry makes the name
            // known, so endpoints can opt in with .RequireRateLimiting(EdgePolicies.Auth).
            o.AddPolicy(EdgePolicies.Auth, _ => RateLimitPartition.GetNoLimiter(EdgePolicies.Auth));
        });
        if (settings.RateLimits.Enabled)
        {
            services.AddOptions<RateLimiterOptions>().Configure<EdgeRateLimiter>((o, limiter) => o.GlobalLimiter = limiter);
        }

        if (settings.Cors.Enabled)
        {
            services.AddCors(o => o.AddDefaultPolicy(policy => CorsPolicies.Configure(policy, settings.Cors)));
        }

        services.AddOutboundDefaults(settings.Outbound);
        return settings;
    }

    /// <summary>
    /// The outer half, first in the pipeline so that every response, errors included, carries the
    /// correlation id and the security headers, and the client address is known.
    /// </summary>
    public static IApplicationBuilder UsePlatformEdge(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var settings = app.ApplicationServices.GetRequiredService<EdgeSettings>();
        if (settings.ForwardedHeaders.Enabled)
        {
            app.UseForwardedHeaders();
        }

        app.UseMiddleware<CorrelationIdMiddleware>();
        if (settings.SecurityHeaders.Enabled)
        {
            app.UseMiddleware<SecurityHeadersMiddleware>(settings.SecurityHeaders);
        }

        return app;
    }

    /// <summary>
    /// The inner half, after the exception handler (so a 413 becomes a problem) and before
    /// authorization: CORS, body limits, authentication and rate limits.
    /// </summary>
    public static IApplicationBuilder UsePlatformEdgeLimits(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var settings = app.ApplicationServices.GetRequiredService<EdgeSettings>();
        // Before the limiter, so that a refusal carries CORS headers a browser script can read.
        if (settings.Cors.Enabled)
        {
            app.UseCors();
        }

        app.UseMiddleware<RequestBodyLimitMiddleware>(settings.MaxRequestBodyBytes);

        // The limiter partitions by principal, so authentication has to have run. Handlers cache
        // their result per request: a later UseAuthentication costs nothing more.
        if (app.ApplicationServices.GetService<IAuthenticationSchemeProvider>() is not null)
        {
            app.UseAuthentication();
        }

        if (settings.RateLimits.Enabled)
        {
            app.UseRateLimiter();
            app.Use(RateLimitResponses.AnnounceOnSuccess(app.ApplicationServices.GetRequiredService<EdgeRateLimiter>()));
        }

        return app;
    }
}
