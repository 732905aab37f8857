using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Listing runs by workflow when a workflow was deleted and its name reused, on both providers.</summary>
public sealed class RunListTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<List<Guid>> List(HttpClient client, string project, string query)
    {
        var page = await Expect(await client.GetAsync($"/api/v1/projects/{project}/runs?{query}&limit=200"), HttpStatusCode.OK);
        var ids = page.GetProperty("items").EnumerateArray().Select(r => r.GetProperty("id").GetGuid()).ToList();
        page.GetProperty("total").GetInt32().ShouldBe(ids.Count);
        return ids;
    }

    private static async Task<Guid> WorkflowId(HttpClient client, string project, string name) =>
        (await client.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{project}/workflows/{name}")).GetProperty("id").GetGuid();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_workflow_deleted_and_created_again_under_its_name_When_runs_are_listed_by_name_Then_only_the_current_workflows_runs_are_and_the_old_ones_by_workflow_id(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("renamed");
        var definition = new { name, steps = new object[] { new { id = "a", type = "noop" } } };
        await Submit(api.Maintainer, api.Project, definition);
        var oldWorkflow = await WorkflowId(api.Viewer, api.Project, name);
        var oldRun = await Start(api.Maintainer, api.Project, name);
        await WaitFor(api.Viewer, api.Project, oldRun);

        await Expect(await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.NoContent);
        // Deleted with no workflow under the name: the name lists nothing; the id still lists the old runs.
        (await List(api.Viewer, api.Project, $"workflow={name}")).ShouldBeEmpty();
        (await List(api.Viewer, api.Project, $"workflowId={oldWorkflow}")).ShouldBe([oldRun]);

        await Submit(api.Maintainer, api.Project, definition);
        var newWorkflow = await WorkflowId(api.Viewer, api.Project, name);
        newWorkflow.ShouldNotBe(oldWorkflow);
        var newRun = await Start(api.Maintainer, api.Project, name);
        await WaitFor(api.Viewer, api.Project, newRun);

        // The name means the workflow named so now.
        (await List(api.Viewer, api.Project, $"workflow={name}")).ShouldBe([newRun]);
        (await List(api.Viewer, api.Project, $"workflow={name}&state=succeeded")).ShouldBe([newRun]);
        (await List(api.Viewer, api.Project, $"workflowId={newWorkflow}")).ShouldBe([newRun]);
        (await List(api.Viewer, api.Project, $"workflowId={oldWorkflow}")).ShouldBe([oldRun]);
        // Both filters must hold.
        (await List(api.Viewer, api.Project, $"workflow={name}&workflowId={oldWorkflow}")).ShouldBeEmpty();
        (await List(api.Viewer, api.Project, $"workflow={name}&workflowId={newWorkflow}")).ShouldBe([newRun]);
        // Unfiltered, the project lists both; each run says which workflow it belongs to.
        var all = await Expect(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/runs?limit=200"), HttpStatusCode.OK);
        var mine = all.GetProperty("items").EnumerateArray().Where(r => r.GetProperty("workflow").GetString() == name)
            .ToDictionary(r => r.GetProperty("id").GetGuid(), r => r.GetProperty("workflowId").GetGuid());
        mine.ShouldBe(new Dictionary<Guid, Guid> { [newRun] = newWorkflow, [oldRun] = oldWorkflow }, ignoreOrder: true);

        // The deleted workflow's run is still readable by id by members, and says which workflow it was.
        var old = await Get(api.Viewer, api.Project, oldRun);
        old.GetProperty("workflowId").GetGuid().ShouldBe(oldWorkflow);
        old.GetProperty("state").GetString().ShouldBe("succeeded");
        (await Get(api.Viewer, api.Project, newRun)).GetProperty("workflowId").GetGuid().ShouldBe(newWorkflow);
        await Expect(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/runs/{oldRun}"), HttpStatusCode.NotFound);
        await Expect(await api.Outsider.GetAsync($"/api/v1/projects/{api.OtherProject}/runs/{oldRun}"), HttpStatusCode.NotFound);

        // Another project's workflow id lists nothing there; outsiders cannot list this project at all.
        (await List(api.Outsider, api.OtherProject, $"workflowId={oldWorkflow}")).ShouldBeEmpty();
        await Expect(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/runs?workflowId={oldWorkflow}"), HttpStatusCode.NotFound);
        await Expect(await api.Anonymous.GetAsync($"/api/v1/projects/{api.Project}/runs?workflowId={oldWorkflow}"), HttpStatusCode.Unauthorized);
        (await List(api.Viewer, api.Project, $"workflowId={Guid.NewGuid()}")).ShouldBeEmpty();
        await Expect(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/runs?workflowId=not-a-guid"), HttpStatusCode.BadRequest);
    }
}
