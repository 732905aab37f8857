using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>model.register and model.promote inside real workflow runs.</summary>
public sealed class RegistryStepTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(30);

    private static async Task Submit(HttpClient client, string project, object definition)
    {
        var response = await client.PostAsync($"/api/v1/projects/{project}/workflows",
            new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private static async Task<Guid> Start(HttpClient client, string project, string workflow)
    {
        var response = await client.PostAsJsonAsync($"/api/v1/projects/{project}/workflows/{workflow}/runs", new { parameters = new { } });
        return (await Json(response, HttpStatusCode.Accepted)).GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> WaitFor(HttpClient client, string project, Guid run, Func<JsonElement, bool> done, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var body = await Json(await client.GetAsync($"/api/v1/projects/{project}/runs/{run}"), HttpStatusCode.OK);
            if (done(body))
            {
                return body;
            }

            if (clock.Elapsed > RunTimeout)
            {
                throw new TimeoutException($"Run {run} did not reach '{what}': {body}");
            }

            await Task.Delay(100);
        }
    }

    private static bool Finished(JsonElement run) => run.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled";

    private static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    /// <summary>train (writes an ONNX file under the run) → register → promote to <paramref name="alias"/>.</summary>
    private static object Pipeline(string workflow, string model, string alias, bool corrupt = false) => new
    {
        name = workflow,
        steps = new object[]
        {
            new { id = "train", type = "test.write_onnx", @params = new { corrupt } },
            new
            {
                id = "register",
                type = "model.register",
                dependsOn = new[] { "train" },
                @params = new
                {
                    model,
                    artifact = "${steps.train.outputs.modelKey}",
                    metrics = new { accuracy = "${steps.train.outputs.accuracy}" },
                    datasets = new[] { "churn@3" },
                    codeVersion = "abc123",
                    description = "registered by a run",
                },
            },
            new
            {
                id = "promote",
                type = "model.promote",
                dependsOn = new[] { "register" },
                @params = new { model, version = "${steps.register.outputs.version}", alias, pollInterval = "200ms" },
            },
        },
    };

    private static async Task<Guid> ProjectId(WorkflowTestAccounts api) =>
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}"), HttpStatusCode.OK)).GetProperty("id").GetGuid();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_run_that_registers_and_promotes_to_a_protected_alias_Then_promote_waits_until_a_second_user_approves_and_lineage_leads_back_to_the_run(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("wf");
        // The protected alias exists before the run: the maintainer creates the model with it.
        await Json(await CreateModel(api.Maintainer, api.Project, model, protectedAliases: ["champion"]), HttpStatusCode.Created);
        var workflow = NewName("train-register-promote");
        await Submit(api.Maintainer, api.Project, Pipeline(workflow, model, "champion"));

        var runId = await Start(api.Maintainer, api.Project, workflow);

        // The version is registered, and the run waits at promote for the approval.
        var waiting = await WaitFor(api.Maintainer, api.Project, runId,
            r => Step(r, "register").GetProperty("state").GetString() == "succeeded" || Finished(r), "register succeeded");
        Step(waiting, "register").GetProperty("outputs").GetProperty("version").GetInt32().ShouldBe(1);
        Step(waiting, "register").GetProperty("outputs").GetProperty("status").GetString().ShouldBe("pending");
        await Task.Delay(1000); // several of promote's 200 ms re-checks
        var stillWaiting = await Json(await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/runs/{runId}"), HttpStatusCode.OK);
        stillWaiting.GetProperty("state").GetString().ShouldBe("running", stillWaiting.ToString());
        Step(stillWaiting, "promote").GetProperty("state").GetString().ShouldNotBe("succeeded");
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/aliases/champion"), HttpStatusCode.NotFound);

        var version = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/versions/1"), HttpStatusCode.OK);
        version.GetProperty("lineage").GetProperty("workflowRun").GetString().ShouldBe(runId.ToString());
        version.GetProperty("lineage").GetProperty("step").GetString().ShouldBe("register");
        version.GetProperty("lineage").GetProperty("codeVersion").GetString().ShouldBe("abc123");
        version.GetProperty("lineage").GetProperty("sourceArtifact").GetString().ShouldBe($"runs/{runId}/train/model.onnx");
        version.GetProperty("metrics").GetProperty("accuracy").GetDouble().ShouldBe(0.93);
        version.GetProperty("metricSources").GetProperty("accuracy").GetString().ShouldBe($"workflow:{runId}/register");

        // A second person, the approver, approves through the registry API.
        await Json(await api.Admin.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{model}/versions/1/approve", new { comment = "ship it" }), HttpStatusCode.OK);

        var run = await WaitFor(api.Maintainer, api.Project, runId, Finished, "finished");
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var promote = Step(run, "promote").GetProperty("outputs");
        promote.GetProperty("alias").GetString().ShouldBe("champion");
        promote.GetProperty("version").GetInt32().ShouldBe(1);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/aliases/champion/version"), HttpStatusCode.OK))
            .GetProperty("version").GetInt32().ShouldBe(1);

        // Lineage from the run to the version, and from the version's dataset.
        using var scope = api.Factory.Services.CreateScope();
        var lineage = scope.ServiceProvider.GetRequiredService<IModelLineageQuery>();
        var projectId = await ProjectId(api);
        var byRun = await lineage.FindByRunAsync(projectId, runId.ToString());
        byRun.Select(v => (v.Model, v.Version, v.Step)).ShouldBe([(model, 1, "register")]);
        (await lineage.FindByDatasetAsync(projectId, "churn@3")).ShouldContain(v => v.Model == model && v.Version == 1);
        var versionLineage = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/versions/1/lineage"), HttpStatusCode.OK);
        versionLineage.GetProperty("aliases").EnumerateArray().Select(a => a.GetString()).ShouldBe(["champion"]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_promote_waiting_for_approval_When_the_version_is_rejected_Then_the_step_fails_once_without_retries(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("wf");
        await Json(await CreateModel(api.Maintainer, api.Project, model, protectedAliases: ["champion"]), HttpStatusCode.Created);
        var workflow = NewName("rejected");
        await Submit(api.Maintainer, api.Project, Pipeline(workflow, model, "champion"));
        var runId = await Start(api.Maintainer, api.Project, workflow);
        await WaitFor(api.Maintainer, api.Project, runId, r => Step(r, "register").GetProperty("state").GetString() == "succeeded" || Finished(r), "register succeeded");

        await Json(await api.Admin.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{model}/versions/1/reject", new { comment = "worse on holdout" }), HttpStatusCode.OK);

        var run = await WaitFor(api.Maintainer, api.Project, runId, Finished, "finished");
        run.GetProperty("state").GetString().ShouldBe("failed");
        var promote = Step(run, "promote");
        promote.GetProperty("state").GetString().ShouldBe("failed");
        promote.GetProperty("attempts").GetArrayLength().ShouldBe(1);
        promote.GetProperty("attempts")[0].GetProperty("error").GetString()!.ShouldContain("worse on holdout");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_unprotected_alias_When_run_Then_model_created_version_registered_and_alias_moved_without_waiting(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("wf"); // not created beforehand: model.register creates it
        var workflow = NewName("unprotected");
        await Submit(api.Maintainer, api.Project, Pipeline(workflow, model, "candidate"));

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, workflow), Finished, "finished");

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var alias = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/aliases/candidate/version"), HttpStatusCode.OK);
        alias.GetProperty("version").GetInt32().ShouldBe(1);
        alias.GetProperty("status").GetString().ShouldBe("pending");

        // The event names the run behind it, so trigger rules on it can see a loop coming.
        using var scope = api.Factory.Services.CreateScope();
        var registered = await scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>().OutboxMessages.AsNoTracking()
            .Where(m => m.Type.Contains(nameof(ModelVersionRegistered))).Select(m => m.Payload).ToListAsync();
        var payload = registered.Select(p => JsonDocument.Parse(p).RootElement).Single(p => p.GetProperty("model").GetString() == model);
        payload.GetProperty("causedByRun").GetGuid().ShouldBe(run.GetProperty("id").GetGuid());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_artifact_ONNX_Runtime_cannot_load_When_registered_by_a_step_Then_the_step_fails_without_retries_and_nothing_is_registered(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("wf");
        var created = await Json(await CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        var workflow = NewName("corrupt");
        await Submit(api.Maintainer, api.Project, Pipeline(workflow, model, "candidate", corrupt: true));

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, workflow), Finished, "finished");

        run.GetProperty("state").GetString().ShouldBe("failed");
        var register = Step(run, "register");
        register.GetProperty("attempts").GetArrayLength().ShouldBe(1);
        register.GetProperty("attempts")[0].GetProperty("error").GetString()!.ShouldContain("ONNX Runtime");
        Step(run, "promote").GetProperty("state").GetString().ShouldNotBe("succeeded");
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{model}/versions"), HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(0);
        (await StoredKeys(api.Factory, created.GetProperty("id").GetGuid())).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_step_parameters_When_submitted_Then_422_naming_each_parameter(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var response = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", new StringContent(JsonSerializer.Serialize(new
        {
            name = NewName("bad"),
            steps = new object[]
            {
                new { id = "register", type = "model.register", @params = new { model = "Bad Name", artifact = "runs/x/model.onnx", metrics = new { auc = "high" } } },
                new { id = "promote", type = "model.promote", @params = new { model = "m", version = 0, alias = "1st" } },
            },
        }), Encoding.UTF8, "application/json"));

        var problem = await Problem(response, HttpStatusCode.UnprocessableEntity);
        var text = problem.ToString();
        text.ShouldContain("model");
        text.ShouldContain("metrics");
        text.ShouldContain("version");
        text.ShouldContain("alias");
    }
}
