using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace MlPlatform.IntegrationTests.Host;

/// <summary>The real binary, started as a user would: bad settings stop it with a clear message.</summary>
public sealed class StartupTests
{
    private static readonly string HostDll = Path.Combine(AppContext.BaseDirectory, "MlPlatform.Host.dll");

    private static async Task<(int ExitCode, string Output)> RunHost(TimeSpan timeout, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.ArgumentList.Add(HostDll);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("host did not exit: " + await stdout + await stderr);
        }

        return (process.ExitCode, await stdout + await stderr);
    }

    [Theory]
    [InlineData("--Database:Provider=Oracle", "Database:Provider")]
    [InlineData("--Modules:Enabled=Predictions,Billing", "Modules:Enabled")]
    [InlineData("--Scheduler:ThreadCount=zero", "Scheduler:ThreadCount")]
    [InlineData("--Database:Provider=PostgreSql", "ConnectionStrings:PostgreSql")]
    [InlineData("--Gateway:Cors:AllowedOrigins=app.example.com", "Gateway:Cors:AllowedOrigins")]
    public async Task Given_invalid_setting_When_host_starts_Then_it_exits_non_zero_naming_the_setting(string argument, string setting)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-startup-" + Guid.NewGuid().ToString("N")[..8]);

        var (exitCode, output) = await RunHost(TimeSpan.FromSeconds(60), argument, "--Platform:DataDirectory=" + dataDirectory);

        exitCode.ShouldNotBe(0, output);
        output.ShouldContain(setting);
        output.ShouldContain("cannot start");
    }

    [Fact]
    public async Task Given_migrate_command_Then_it_applies_every_module_migration_and_exits_zero()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-migrate-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var (exitCode, output) = await RunHost(TimeSpan.FromSeconds(90), "migrate", "--Platform:DataDirectory=" + dataDirectory);

            exitCode.ShouldBe(0, output);
            output.ShouldContain("Migrations applied");
            Directory.GetFiles(Path.Combine(dataDirectory, "db"), "*.db").Length.ShouldBe(7);
        }
        finally
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    [Fact]
    public async Task Given_json_log_format_Then_request_logs_are_json_with_trace_and_span_ids()
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-logs-" + Guid.NewGuid().ToString("N")[..8]);
        var port = FreePort();
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Path.GetTempPath() };
        foreach (var arg in new[] { HostDll, $"--urls=http://127.0.0.1:{port}", "--Platform:DataDirectory=" + dataDirectory, "--Logging:Format=Json", "--Serilog:MinimumLevel:Default=Debug" })
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var lines = new List<string>();
        var reading = Task.Run(async () =>
        {
            while (await process.StandardOutput.ReadLineAsync() is { } line)
            {
                lock (lines)
                {
                    lines.Add(line);
                }
            }
        });
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            await WaitForReady(client);
            (await client.GetAsync("/no-such-route")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
            await Task.Delay(500);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            await reading;
            Directory.Delete(dataDirectory, recursive: true);
        }

        List<JsonElement> events;
        lock (lines)
        {
            events = lines.Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement.Clone()).ToList();
        }

        events.ShouldNotBeEmpty(string.Join('\n', lines));
        events.Any(e => e.TryGetProperty("@tr", out var trace) && trace.GetString()!.Length == 32 && e.TryGetProperty("@sp", out var span) && span.GetString()!.Length == 16)
            .ShouldBeTrue(string.Join('\n', lines));
    }

    internal static async Task WaitForReady(HttpClient client)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await client.GetAsync("/health/ready")).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(200);
        }

        throw new TimeoutException("host did not become ready");
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
