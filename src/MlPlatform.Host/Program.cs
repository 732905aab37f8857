using MlPlatform.SharedKernel.Configuration;
using MlPlatform.Host;
using MlPlatform.Host.Configuration;
using MlPlatform.Host.Infrastructure;

// `MlPlatform.Host migrate` applies every enabled module's migrations and exits (production);
// `MlPlatform.Host healthcheck [url]` probes a running host (container health checks have no curl);
// anything else runs the platform.
if (args.Length > 0 && args[0] == "healthcheck")
{
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : "http://127.0.0.1:8000/health/ready");
}

var migrateOnly = args.Length > 0 && args[0] == "migrate";
var hostArgs = migrateOnly ? args[1..] : args;

WebApplication app;
try
{
    app = PlatformHost.Build(hostArgs);
}
catch (InvalidConfigurationException ex)
{
    await Console.Error.WriteLineAsync("MlPlatform cannot start: " + ex.Message);
    return 2;
}

if (migrateOnly)
{
    await app.Services.GetRequiredService<DatabaseMigrator>().MigrateAsync(CancellationToken.None);
    await Console.Out.WriteLineAsync("Migrations applied.");
    return 0;
}

await PlatformHost.RunAsync(app);
return 0;

/// <summary>Entry point type, visible to WebApplicationFactory in the tests.</summary>
public partial class Program;
