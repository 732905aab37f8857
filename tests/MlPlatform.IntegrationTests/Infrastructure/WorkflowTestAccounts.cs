using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// Callers with known rights on one host, made through the public API as a user would: the
/// bootstrap admin creates a Maintainer, a Viewer and an outsider, and a project (which the admin
/// owns) with the first two as members; the outsider owns a project of their own.
/// </summary>
public sealed class WorkflowTestAccounts : IDisposable
{
    public const string Password = "Workflow-Tests-Pass-1!";

    private WorkflowTestAccounts(PlatformFactory factory, string project, string otherProject, HttpClient admin, HttpClient maintainer, HttpClient viewer, HttpClient outsider)
    {
        Factory = factory;
        Project = project;
        OtherProject = otherProject;
        Admin = admin;
        Maintainer = maintainer;
        Viewer = viewer;
        Outsider = outsider;
        Anonymous = factory.CreateClient();
    }

    public PlatformFactory Factory { get; }

    /// <summary>Admin is Owner, Maintainer and Viewer are members.</summary>
    public string Project { get; }

    /// <summary>The outsider's own project: nobody else is a member.</summary>
    public string OtherProject { get; }

    public HttpClient Admin { get; }

    public HttpClient Maintainer { get; }

    public HttpClient Viewer { get; }

    public HttpClient Outsider { get; }

    public HttpClient Anonymous { get; }

    public static async Task<WorkflowTestAccounts> CreateAsync(PlatformFactory factory)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var suffix = Guid.NewGuid().ToString("N")[..8];
        var admin = await LoginAsync(factory, TestUsers.AdminName, TestUsers.AdminPassword);

        var maintainerId = await CreateUserAsync(admin, $"wf-maint-{suffix}");
        var viewerId = await CreateUserAsync(admin, $"wf-viewer-{suffix}");
        await CreateUserAsync(admin, $"wf-out-{suffix}");

        var project = $"wf-{suffix}";
        await CreateProjectAsync(admin, project);
        await AddMemberAsync(admin, project, maintainerId, "Maintainer");
        await AddMemberAsync(admin, project, viewerId, "Viewer");

        var outsider = await LoginAsync(factory, $"wf-out-{suffix}", Password);
        var otherProject = $"wf-other-{suffix}";
        await CreateProjectAsync(outsider, otherProject);

        return new WorkflowTestAccounts(
            factory,
            project,
            otherProject,
            admin,
            await LoginAsync(factory, $"wf-maint-{suffix}", Password),
            await LoginAsync(factory, $"wf-viewer-{suffix}", Password),
            outsider);
    }

    /// <summary>A client that sends the user's access token.</summary>
    public static async Task<HttpClient> LoginAsync(PlatformFactory factory, string username, string password)
    {
        ArgumentNullException.ThrowIfNull(factory);
        var client = factory.CreateClient();
        var response = await client.PostAsJsonAsync("/api/v1/auth/login", new { username, password });
        await EnsureAsync(response, $"log in as {username}");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", body.RootElement.GetProperty("accessToken").GetString());
        return client;
    }

    public static async Task<Guid> CreateUserAsync(HttpClient admin, string username)
    {
        ArgumentNullException.ThrowIfNull(admin);
        var response = await admin.PostAsJsonAsync("/api/v1/users", new { username, password = Password });
        await EnsureAsync(response, $"create user {username}");
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return body.RootElement.GetProperty("id").GetGuid();
    }

    public static async Task CreateProjectAsync(HttpClient owner, string name)
    {
        ArgumentNullException.ThrowIfNull(owner);
        await EnsureAsync(await owner.PostAsJsonAsync("/api/v1/projects", new { name }), $"create project {name}");
    }

    public static async Task AddMemberAsync(HttpClient owner, string project, Guid userId, string role)
    {
        ArgumentNullException.ThrowIfNull(owner);
        await EnsureAsync(await owner.PutAsJsonAsync($"/api/v1/projects/{project}/members/{userId}", new { role }), $"make {userId} {role} of {project}");
    }

    private static async Task EnsureAsync(HttpResponseMessage response, string what)
    {
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"Could not {what}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }

    public void Dispose()
    {
        foreach (var client in new[] { Admin, Maintainer, Viewer, Outsider, Anonymous })
        {
            client.Dispose();
        }
    }
}
