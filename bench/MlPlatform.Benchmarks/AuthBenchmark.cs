using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Host;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.Benchmarks;

/// <summary>
/// The cost of being authenticated: the same project read served anonymously and behind a bearer
/// token plus the project check, side by side on one host (Kestrel on loopback, SQLite), in
/// alternating rounds; once with a database read and once with no I/O. Also the cost of one login.
/// </summary>
public static class AuthBenchmark
{
    private const string Password = "Bench-Password-123!";

    public static async Task RunAsync(TimeSpan duration, int clients)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-bench-" + Guid.NewGuid().ToString("N")[..8]);
        var port = FreePort();
        var app = PlatformHost.Build(
            [
                $"--urls=http://127.0.0.1:{port}",
                $"--Platform:DataDirectory={dataDirectory}",
                "--Serilog:MinimumLevel:Default=Warning",
                "--UserManagement:BootstrapAdmin:Username=admin",
                $"--UserManagement:BootstrapAdmin:Password={Password}",
                "--Gateway:RateLimits:Enabled=false",
            ],
            extraModules: [new ReadModule()]);
        await PlatformHost.PrepareAsync(app);
        await app.StartAsync();
        try
        {
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = clients, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
            using var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            var token = await Login(client);
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            (await client.PostAsJsonAsync("/api/v1/projects", new { name = "bench" })).EnsureSuccessStatusCode();

            // Two reads: the project row from the database, and a response with no I/O at all, which
            // shows the cost of authentication and the project check with nothing to hide it.
            foreach (var (label, anonymousPath, authenticatedPath) in new[]
                     {
                         ("project read (SQLite)", "/bench/anonymous/bench", "/bench/authenticated/bench"),
                         ("no-I/O read", "/bench/anonymous-static/bench", "/bench/authenticated-static/bench"),
                     })
            {
                HttpRequestMessage Anonymous()
                {
                    var message = new HttpRequestMessage(HttpMethod.Get, anonymousPath);
                    message.Headers.Authorization = null;
                    return message;
                }

                HttpRequestMessage Authenticated() => new(HttpMethod.Get, authenticatedPath);

                // Warm up both paths (JIT, connection pool, caches), then alternate which goes first.
                await LoadGenerator.RunAsync("warm-up", client, Anonymous, clients, TimeSpan.FromSeconds(3));
                await LoadGenerator.RunAsync("warm-up", client, Authenticated, clients, TimeSpan.FromSeconds(3));
                var anonymous = new List<LoadGenerator.Result>();
                var authenticated = new List<LoadGenerator.Result>();
                for (var round = 0; round < 4; round++)
                {
                    if (round % 2 == 0)
                    {
                        anonymous.Add(await LoadGenerator.RunAsync($"{label}, anonymous", client, Anonymous, clients, duration));
                        authenticated.Add(await LoadGenerator.RunAsync($"{label}, authenticated", client, Authenticated, clients, duration));
                    }
                    else
                    {
                        authenticated.Add(await LoadGenerator.RunAsync($"{label}, authenticated", client, Authenticated, clients, duration));
                        anonymous.Add(await LoadGenerator.RunAsync($"{label}, anonymous", client, Anonymous, clients, duration));
                    }

                    Console.WriteLine(anonymous[^1]);
                    Console.WriteLine(authenticated[^1]);
                }

                var ratio = authenticated.Sum(r => r.PerSecond) / anonymous.Sum(r => r.PerSecond);
                Console.WriteLine($"{label}: authenticated / anonymous throughput = {ratio:F2} (target >= 0.80), {clients} clients, {Environment.ProcessorCount} cores");
            }

            var logins = 20;
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < logins; i++)
            {
                await Login(client);
            }

            var perLogin = Stopwatch.GetElapsedTime(started).TotalMilliseconds / logins;
            Console.WriteLine($"login (Argon2id m=19 MiB t=2 p=1): {perLogin:F1} ms per request, sequential, {logins} logins");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(dataDirectory, recursive: true);
        }
    }

    private static async Task<string> Login(HttpClient client)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/auth/login") { Content = JsonContent.Create(new { username = "admin", password = Password }) };
        request.Headers.Authorization = null;
        using var response = await client.SendAsync(request);
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<Dictionary<string, object>>();
        return body!["accessToken"].ToString()!;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The same read twice: once anonymous, once behind authentication and the project check.</summary>
    private sealed class ReadModule : IModule
    {
        public string Name => "BenchRead";

        public string Schema => "bench";

        public Type? DbContextType => null;

        public void AddServices(IServiceCollection services, ModuleContext context)
        {
        }

        public void MapEndpoints(IEndpointRouteBuilder endpoints)
        {
            endpoints.MapGet("/bench/anonymous/{project}", (string project, UserManagementDbContext db, CancellationToken ct) => Read(db, project, ct))
                .AllowAnonymous();
            endpoints.MapGet("/bench/authenticated/{project}", async (string project, ClaimsPrincipal user, IProjectAuthorizer authorizer, UserManagementDbContext db, CancellationToken ct) =>
                {
                    await authorizer.AuthorizeAsync(user, project, Permission.Read, ct);
                    return await Read(db, project, ct);
                })
                .RequireAuthorization(PlatformPolicies.Authenticated);
            endpoints.MapGet("/bench/anonymous-static/{project}", (string project) => Results.Ok(new { project }))
                .AllowAnonymous();
            endpoints.MapGet("/bench/authenticated-static/{project}", async (string project, ClaimsPrincipal user, IProjectAuthorizer authorizer, CancellationToken ct) =>
                {
                    await authorizer.AuthorizeAsync(user, project, Permission.Read, ct);
                    return Results.Ok(new { project });
                })
                .RequireAuthorization(PlatformPolicies.Authenticated);
        }

        private static async Task<IResult> Read(UserManagementDbContext db, string project, CancellationToken ct) =>
            await db.Projects.AsNoTracking().Where(p => p.Name == project).Select(p => new { p.Id, p.Name, p.CreatedAt }).SingleOrDefaultAsync(ct) is { } row
                ? Results.Ok(row)
                : Results.NotFound();
    }
}
