using System.Text.Json;
using FluentValidation;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MlPlatform.Gateway;
using MlPlatform.Host.Configuration;
using MlPlatform.Host.Infrastructure;
using MlPlatform.SharedKernel.Behaviors;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.UserManagement.Contracts;
using Scalar.AspNetCore;

namespace MlPlatform.Host;

/// <summary>
/// Builds the one host: configuration, logging, telemetry, the enabled modules, the scheduler and
/// the HTTP pipeline. Program.cs, test hosts and tools all go through here.
/// </summary>
public static class PlatformHost
{
    public const string DefaultUrl = "http://localhost:8000";

    /// <summary>Builds the application. <paramref name="extraModules"/> lets a test host add a module of its own.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null, IEnumerable<IModule>? extraModules = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        configure?.Invoke(builder);

        var catalog = ModuleCatalog.All.Concat(extraModules ?? []).ToList();
        var settings = PlatformSettings.Read(builder.Configuration, catalog.Select(m => m.Name).ToList());
        var modules = catalog.Where(m => settings.EnabledModules.Contains(m.Name)).ToList();
        var moduleContext = new ModuleContext(builder.Configuration, builder.Environment, settings.Database);
        // The edge is part of every host, whether or not the Gateway module (its database) is enabled.
        var edge = builder.Services.AddPlatformEdge(builder.Configuration);

        // ASPNETCORE_URLS is host configuration, which appsettings.json's Urls would otherwise override.
        var urls = Environment.GetEnvironmentVariable("ASPNETCORE_URLS") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : builder.Configuration["urls"];
        builder.WebHost.UseUrls(string.IsNullOrWhiteSpace(urls) ? DefaultUrl : urls);

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = edge.MaxRequestBodyBytes;
        });
        // The mediator's generated registrations include every module's handlers; those of disabled
        // modules cannot be built (their DbContext is absent) and are never asked for, so the container
        // must not try them all at start. Scopes are still validated.
        builder.Host.UseDefaultServiceProvider(o =>
        {
            o.ValidateScopes = true;
            o.ValidateOnBuild = false;
        });
        builder.Host.ConfigureHostOptions(o =>
            o.ShutdownTimeout = PlatformSettings.ReadTimeSpan(builder.Configuration, "Platform:ShutdownTimeout", TimeSpan.FromSeconds(30), TimeSpan.Zero));

        builder.AddPlatformLogging(settings);
        builder.AddPlatformTelemetry(settings);

        var services = builder.Services;
        services.AddSingleton(settings);
        services.AddSingleton(settings.Database);
        services.AddSingleton(TimeProvider.System);
        services.Configure<JsonOptions>(o => o.SerializerOptions.PropertyNamingPolicy = JsonNamingPolicy.CamelCase);
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        services.AddProblemDetails(o => o.CustomizeProblemDetails = ctx =>
        {
            ctx.ProblemDetails.Instance ??= ctx.HttpContext.Request.Path;
            ctx.ProblemDetails.Extensions["traceId"] = System.Diagnostics.Activity.Current?.TraceId.ToString() ?? ctx.HttpContext.TraceIdentifier;
        });
        services.AddExceptionHandler<ProblemDetailsExceptionHandler>();
        services.AddOpenApi(o => o.AddSecuritySchemes());
        services.AddAuthorizationBuilder()
            .AddPolicy(PlatformPolicies.Authenticated, p => p.RequireAuthenticatedUser())
            .AddPolicy(PlatformPolicies.Admin, p => p.RequireAuthenticatedUser().RequireClaim(PlatformClaims.Admin, "true"));
        // No fallback policy: it would also answer unknown routes with 401 instead of 404. An
        // architecture test fails any endpoint without a policy that is not anonymous on purpose.

        services.AddMediator(o =>
        {
            o.ServiceLifetime = ServiceLifetime.Scoped;
            // Every module assembly must be listed, or its handlers are missing at run time (MSG0005).
            o.Assemblies =
            [
                typeof(UserManagement.UserManagementModule),
                typeof(Gateway.GatewayModule),
                typeof(Workflows.WorkflowsModule),
                typeof(ModelRegistry.ModelRegistryModule),
                typeof(DataPipelines.DataPipelinesModule),
                typeof(Predictions.PredictionsModule),
                typeof(Monitoring.MonitoringModule),
            ];
            o.PipelineBehaviors = [typeof(LoggingBehavior<,>), typeof(ValidationBehavior<,>)];
        });

        var eventAssemblies = AppDomain.CurrentDomain.GetAssemblies()
            .Where(a => a.GetName().Name?.StartsWith("MlPlatform", StringComparison.Ordinal) == true)
            .Concat(modules.Select(m => m.GetType().Assembly))
            // A module's Contracts assembly is loaded only when first used, which may be after this
            // list is made (then its events stayed in the outbox as "unknown type"): load them now.
            .Concat(modules.SelectMany(m => m.GetType().Assembly.GetReferencedAssemblies())
                .Where(n => n.Name?.StartsWith("MlPlatform", StringComparison.Ordinal) == true)
                .Select(System.Reflection.Assembly.Load))
            .Distinct();
        services.AddSingleton(new IntegrationEventTypes(eventAssemblies));
        services.AddSingleton<OutboxSignal>();
        services.Configure<OutboxOptions>(builder.Configuration.GetSection(OutboxOptions.Section));
        services.AddHostedService<OutboxDispatcher>();

        services.AddObjectStore(builder.Configuration, settings.Database.DataDirectory);
        services.AddHealthChecks().AddCheck<ObjectStoreHealthCheck>("artifact-store", tags: [HealthTags.Ready]);

        foreach (var module in modules)
        {
            services.AddSingleton(module);
            services.AddValidatorsFromAssembly(module.GetType().Assembly, includeInternalTypes: true);
            module.AddServices(services, moduleContext);
        }

        if (!services.Any(d => d.ServiceType == typeof(IAuthenticationService)))
        {
            // Without the module that issues credentials, nothing authenticates: protected endpoints answer 401.
            services.AddAuthentication(NoCredentialsHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, NoCredentialsHandler>(NoCredentialsHandler.SchemeName, null);
        }

        services.AddTransient<DatabaseMigrator>();
        builder.AddPlatformScheduler(settings, modules, moduleContext);

        var app = builder.Build();
        ConfigurePipeline(app, modules);
        return app;
    }

    private static void ConfigurePipeline(WebApplication app, List<IModule> modules)
    {
        // Outside the exception handler, so errors carry the correlation id and security headers too.
        app.UsePlatformEdge();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        // CORS, body limits, authentication and rate limits; then the modules' own middleware (audit).
        app.UsePlatformEdgeLimits();
        foreach (var module in modules)
        {
            module.UseMiddleware(app);
        }

        app.UseAuthorization();

        app.MapHealthChecks("/health/live", new HealthCheckOptions { Predicate = _ => false }).AllowAnonymous();
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = check => check.Tags.Contains(HealthTags.Ready),
            ResponseWriter = HealthResponse.WriteAsync,
        }).AllowAnonymous();
        // Always the Prometheus text format: promtool and older scrapers reject the OpenMetrics variant.
        app.MapPrometheusScrapingEndpoint(
            path: "/metrics",
            meterProvider: null,
            configureBranchedPipeline: metrics => metrics.Use((ctx, next) =>
            {
                ctx.Request.Headers.Accept = "text/plain; version=0.0.4";
                return next(ctx);
            }),
            optionsName: null).AllowAnonymous();
        app.MapOpenApi("/openapi/{documentName}.json").AllowAnonymous();
        // The reference's CSP allows this host only: no fonts from a CDN, no telemetry.
        app.MapScalarApiReference(PlatformEdge.DocsPath, o => o
            .WithOpenApiRoutePattern("/openapi/{documentName}.json")
            .DisableDefaultFonts()
            .DisableTelemetry()).AllowAnonymous();

        foreach (var module in modules)
        {
            module.MapEndpoints(app);
        }
    }

    /// <summary>Applies migrations when configured (embedded default) and then serves until stopped.</summary>
    public static async Task RunAsync(WebApplication app)
    {
        await PrepareAsync(app);
        await app.RunAsync();
    }

    /// <summary>Readies the databases before anything starts: migrations when configured, the scheduler's store always.</summary>
    public static async Task PrepareAsync(WebApplication app)
    {
        var settings = app.Services.GetRequiredService<PlatformSettings>();
        var migrator = app.Services.GetRequiredService<DatabaseMigrator>();
        if (settings.MigrateOnStart)
        {
            await migrator.MigrateAsync(app.Lifetime.ApplicationStopping);
        }
        else
        {
            await migrator.PrepareSchedulerStoreAsync(app.Lifetime.ApplicationStopping);
        }
    }
}

internal static class HealthResponse
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            durationMs = report.TotalDuration.TotalMilliseconds,
            checks = report.Entries.ToDictionary(
                e => e.Key,
                e => new { status = e.Value.Status.ToString(), description = e.Value.Description, error = e.Value.Exception?.Message }),
        };
        return context.Response.WriteAsJsonAsync(body);
    }
}
