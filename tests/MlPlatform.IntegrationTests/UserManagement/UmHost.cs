using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.UserManagement.Persistence;

namespace MlPlatform.IntegrationTests.UserManagement;

public sealed record Tokens(string Access, string Refresh);

public sealed record TestUser(Guid Id, string Name, string Password, string? Email);

public sealed record TestKey(Guid AccountId, Guid KeyId, string Key);

/// <summary>
/// The real host (<see cref="InProcessHost"/>) on its own data directory and database, with the
/// calls the user-management tests make over HTTP. One per provider per test class: users,
/// projects and names are unique per test, so tests of a class can share it.
/// </summary>
public sealed class UmHost : IAsyncDisposable
{
    public const string Password = "Correct-Horse-Battery-9";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private readonly IDictionary<string, string?> _settings;
    private readonly Action<IServiceCollection>? _testServices;
    private readonly IReadOnlyList<IModule> _modules;
    private readonly PostgresDatabase? _postgres;
    private InProcessHost _host;
    private (Tokens Tokens, DateTimeOffset At)? _admin;

    private UmHost(
        DatabaseProvider provider,
        string dataDirectory,
        PostgresDatabase? postgres,
        InProcessHost host,
        IDictionary<string, string?> settings,
        Action<IServiceCollection>? testServices,
        IReadOnlyList<IModule> modules)
    {
        Provider = provider;
        DataDirectory = dataDirectory;
        _postgres = postgres;
        _host = host;
        _settings = settings;
        _testServices = testServices;
        _modules = modules;
    }

    public DatabaseProvider Provider { get; }

    public string DataDirectory { get; }

    public string? PostgresConnectionString => _postgres?.ConnectionString;

    public IServiceProvider Services => _host.Services;

    public HttpClient Client => _host.Client;

    /// <summary>The host's clock (a fake one where a test replaced it).</summary>
    public TimeProvider Clock => Services.GetRequiredService<TimeProvider>();

    public static async Task<UmHost> StartAsync(
        DatabaseProvider provider,
        IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? testServices = null,
        IEnumerable<IModule>? modules = null)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-um-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dataDirectory);
        var postgres = provider == DatabaseProvider.PostgreSql ? await PostgresDatabase.CreateAsync() : null;
        var moduleList = (modules ?? []).ToList();
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            // The edge's request budgets are the Gateway tests' subject; here they would only make a
            // test's answer depend on how many requests the tests before it made.
            ["Gateway:RateLimits:Enabled"] = "false",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }

        var host = await Start(provider, dataDirectory, postgres, values, testServices, moduleList);
        return new UmHost(provider, dataDirectory, postgres, host, values, testServices, moduleList);
    }

    /// <summary>Stops this host and starts a new one on the same data directory and database, with some settings changed.</summary>
    public async Task RestartAsync(IDictionary<string, string?> changedSettings)
    {
        await _host.DisposeAsync();
        foreach (var (key, value) in changedSettings)
        {
            _settings[key] = value;
        }

        _admin = null;
        _host = await Start(Provider, DataDirectory, _postgres, _settings, _testServices, _modules);
    }

    private static Task<InProcessHost> Start(
        DatabaseProvider provider,
        string dataDirectory,
        PostgresDatabase? postgres,
        IDictionary<string, string?> settings,
        Action<IServiceCollection>? testServices,
        IReadOnlyList<IModule> modules) =>
        InProcessHost.StartAsync(
            provider,
            dataDirectory,
            postgres?.ConnectionString,
            modules,
            settings,
            services =>
            {
                TestClientAddress.Register(services);
                testServices?.Invoke(services);
            });

    public async ValueTask DisposeAsync()
    {
        await _host.DisposeAsync();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // SQLite may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }

    // ---- HTTP ----

    public async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, object? body = null, string? token = null, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = body as HttpContent ?? JsonContent.Create(body, body.GetType(), options: Json);
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        configure?.Invoke(request);
        return await Client.SendAsync(request);
    }

    public Task<HttpResponseMessage> GetAsync(string path, string? token = null) => SendAsync(HttpMethod.Get, path, null, token);

    public Task<HttpResponseMessage> PostAsync(string path, object? body, string? token = null) => SendAsync(HttpMethod.Post, path, body, token);

    public Task<HttpResponseMessage> PutAsync(string path, object? body, string? token = null) => SendAsync(HttpMethod.Put, path, body, token);

    public Task<HttpResponseMessage> DeleteAsync(string path, string? token = null) => SendAsync(HttpMethod.Delete, path, null, token);

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    // ---- Accounts and tokens ----

    public async Task<HttpResponseMessage> LoginResponseAsync(string login, string password, string? clientAddress = null) =>
        await SendAsync(HttpMethod.Post, "/api/v1/auth/login", new { username = login, password }, configure: request =>
        {
            if (clientAddress is not null)
            {
                request.Headers.Add(TestClientAddress.Header, clientAddress);
            }
        });

    public async Task<Tokens> LoginAsync(string login, string password = Password)
    {
        var body = await ReadJsonAsync(await LoginResponseAsync(login, password), HttpStatusCode.OK);
        body.GetProperty("tokenType").GetString().ShouldBe("Bearer");
        return new Tokens(body.GetProperty("accessToken").GetString()!, body.GetProperty("refreshToken").GetString()!);
    }

    public Task<HttpResponseMessage> RefreshResponseAsync(string refreshToken) =>
        PostAsync("/api/v1/auth/refresh", new { refreshToken });

    /// <summary>The bootstrap administrator's access token, fresh on the host's clock.</summary>
    public async Task<string> AdminTokenAsync()
    {
        var now = Clock.GetUtcNow();
        if (_admin is not { } admin || now - admin.At > TimeSpan.FromSeconds(20) || now < admin.At)
        {
            _admin = admin = (await LoginAsync(TestUsers.AdminName, TestUsers.AdminPassword), now);
        }

        return admin.Tokens.Access;
    }

    public async Task<Guid> AdminIdAsync() => await UserIdAsync(TestUsers.AdminName);

    public async Task<TestUser> CreateUserAsync(string? name = null, bool isAdmin = false, bool withEmail = true)
    {
        name ??= Names.User();
        var email = withEmail ? $"{name}@example.test" : null;
        var body = await ReadJsonAsync(
            await PostAsync("/api/v1/users", new { username = name, email, password = Password, isAdmin }, await AdminTokenAsync()),
            HttpStatusCode.Created);
        return new TestUser(body.GetProperty("id").GetGuid(), name, Password, email);
    }

    public async Task<(TestUser User, Tokens Tokens)> SignedInUserAsync()
    {
        var user = await CreateUserAsync();
        return (user, await LoginAsync(user.Name));
    }

    // ---- Projects and keys ----

    public async Task<(string Name, Guid Id)> CreateProjectAsync(string token, string? name = null)
    {
        name ??= Names.Project();
        var body = await ReadJsonAsync(await PostAsync("/api/v1/projects", new { name, description = "test" }, token), HttpStatusCode.Created);
        return (name, body.GetProperty("id").GetGuid());
    }

    public async Task AddMemberAsync(string token, string project, Guid userId, string role, bool isApprover = false) =>
        await ReadJsonAsync(await PutAsync($"/api/v1/projects/{project}/members/{userId}", new { role, isApprover }, token), HttpStatusCode.OK);

    public async Task<Guid> CreateServiceAccountAsync(string token, string project, string role)
    {
        var body = await ReadJsonAsync(
            await PostAsync($"/api/v1/projects/{project}/service-accounts", new { name = Names.Project("sa"), role }, token),
            HttpStatusCode.Created);
        return body.GetProperty("id").GetGuid();
    }

    public async Task<TestKey> CreateKeyAsync(string token, string project, string role, DateTimeOffset? expiresAt = null)
    {
        var account = await CreateServiceAccountAsync(token, project, role);
        var body = await ReadJsonAsync(
            await PostAsync($"/api/v1/projects/{project}/service-accounts/{account}/keys", new { name = "ci", expiresAt }, token),
            HttpStatusCode.Created);
        return new TestKey(account, body.GetProperty("id").GetGuid(), body.GetProperty("key").GetString()!);
    }

    // ---- Database ----

    public async Task<T> InDatabaseAsync<T>(Func<UserManagementDbContext, Task<T>> query)
    {
        await using var scope = Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<UserManagementDbContext>());
    }

    public Task<Guid> UserIdAsync(string name) =>
        InDatabaseAsync(db => db.Users.Where(u => u.NormalizedUsername == name.ToLowerInvariant()).Select(u => u.Id).SingleAsync());
}

/// <summary>Unique names, so tests sharing a host never collide.</summary>
public static class Names
{
    public static string User(string prefix = "user") => $"{prefix}.{Guid.NewGuid().ToString("N")[..10]}";

    public static string Project(string prefix = "proj") => $"{prefix}-{Guid.NewGuid().ToString("N")[..10]}";
}

/// <summary>Every error answer is RFC 9457 problem details.</summary>
public static class Problems
{
    public static async Task<JsonElement> ShouldBeProblemAsync(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json", $"{(int)response.StatusCode}: {text}");
        using var document = JsonDocument.Parse(text);
        var problem = document.RootElement.Clone();
        problem.GetProperty("status").GetInt32().ShouldBe((int)expected);
        problem.GetProperty("title").GetString().ShouldNotBeNullOrWhiteSpace();
        return problem;
    }

    /// <summary>A 400 whose <c>errors</c> name every one of <paramref name="fields"/>.</summary>
    public static async Task<JsonElement> ShouldBeValidationProblemAsync(this HttpResponseMessage response, params string[] fields)
    {
        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        var errors = problem.GetProperty("errors");
        foreach (var field in fields)
        {
            errors.TryGetProperty(field, out var messages).ShouldBeTrue($"no error for '{field}' in {problem}");
            messages.GetArrayLength().ShouldBeGreaterThan(0);
        }

        return problem;
    }
}

/// <summary>One host per database provider for a test class, started when a test first asks for it.</summary>
public abstract class HostPerProvider : IAsyncLifetime
{
    private readonly Dictionary<DatabaseProvider, Task<UmHost>> _hosts = [];
    private readonly Lock _lock = new();

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    public Task<UmHost> For(DatabaseProvider provider)
    {
        lock (_lock)
        {
            if (!_hosts.TryGetValue(provider, out var host))
            {
                _hosts[provider] = host = StartAsync(provider);
            }

            return host;
        }
    }

    protected abstract Task<UmHost> StartAsync(DatabaseProvider provider);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            await Task.WhenAny(host);
            if (host.IsCompletedSuccessfully)
            {
                await host.Result.DisposeAsync();
            }
        }
    }
}
