using MlPlatform.Host.Configuration;
using MlPlatform.SharedKernel.Messaging;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace MlPlatform.Host.Infrastructure;

internal static class Observability
{
    /// <summary>Meters and activity sources of our own; modules name theirs "MlPlatform.*".</summary>
    public const string MeterPrefix = "MlPlatform.*";

    private const string PlainTemplate =
        "[{Timestamp:HH:mm:ss.fff} {Level:u3}] {SourceContext}: {Message:lj} {TraceId} {SpanId}{NewLine}{Exception}";

    public static void AddPlatformLogging(this WebApplicationBuilder builder, PlatformSettings settings)
    {
        builder.Services.AddSerilog((services, logger) =>
        {
            logger
                .ReadFrom.Configuration(builder.Configuration)
                .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore", LogEventLevel.Warning)
                .MinimumLevel.Override("Quartz", LogEventLevel.Warning)
                .Enrich.FromLogContext()
                .Enrich.WithProperty("Service", settings.ServiceName);

            // Serilog records the current Activity's trace and span ids on every event.
            if (settings.LogFormat.Equals("Json", StringComparison.OrdinalIgnoreCase))
            {
                logger.WriteTo.Console(new RenderedCompactJsonFormatter());
            }
            else
            {
                logger.WriteTo.Console(outputTemplate: PlainTemplate, formatProvider: System.Globalization.CultureInfo.InvariantCulture);
            }
        });
        CachingLoggerFactory.Decorate(builder.Services);
    }

    public static void AddPlatformTelemetry(this WebApplicationBuilder builder, PlatformSettings settings)
    {
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(settings.ServiceName, serviceInstanceId: Environment.MachineName + ":" + Environment.ProcessId))
            .WithMetrics(metrics => metrics
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddMeter(MeterPrefix, OutboxDispatcher.TelemetryName)
                // Prometheus reserves the _count suffix for histograms and summaries (promtool rejects it elsewhere).
                .AddView("dotnet.assembly.count", "dotnet.assemblies.loaded")
                .AddView("dotnet.process.cpu.count", "dotnet.process.cpus")
                .AddView("dotnet.timer.count", "dotnet.timers.active")
                .AddPrometheusExporter(o => o.DisableTotalNameSuffixForCounters = false))
            .WithTracing(tracing =>
            {
                tracing
                    .AddSource(MeterPrefix, OutboxDispatcher.TelemetryName)
                    .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !IsInfrastructurePath(ctx.Request.Path))
                    .AddHttpClientInstrumentation()
                    .AddEntityFrameworkCoreInstrumentation();
                if (settings.OtlpEndpoint is { } endpoint)
                {
                    tracing.AddOtlpExporter(o =>
                    {
                        var uri = new Uri(endpoint);
                        if (settings.OtlpProtocol == "http/protobuf")
                        {
                            // Over HTTP the exporter posts to the URL as given: add the signal's path.
                            o.Protocol = OtlpExportProtocol.HttpProtobuf;
                            uri = uri.AbsolutePath is "/" or "" ? new Uri(uri, "v1/traces") : uri;
                            // Otherwise it takes its client from IHttpClientFactory, with the edge's retries on
                            // top of its own: more attempts against a collector that is already struggling.
                            o.HttpClientFactory = () => new HttpClient { Timeout = TimeSpan.FromMilliseconds(o.TimeoutMilliseconds) };
                        }

                        o.Endpoint = uri;
                    });
                }
                else
                {
                    // Nothing exports spans, so none is recorded. Activities are still created for
                    // propagation (trace ids in logs, problem details and the audit log; correlation
                    // tags) but request no data, so the instrumentations skip their work (EF Core's
                    // sanitizing of every statement's SQL, the request and client tags).
                    tracing.SetSampler(new AlwaysOffSampler());
                }
            });
        _ = otel;
    }

    internal static bool IsInfrastructurePath(PathString path) =>
        path.StartsWithSegments("/metrics") || path.StartsWithSegments("/health");
}
