using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

/// <summary>The data.* step types inside real workflow runs (Quartz, the run engine, templates).</summary>
public sealed class DataStepTests(DataHostsFixture hosts) : IClassFixture<DataHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<Guid> SubmitAndStart(HttpClient client, string project, object definition, string name)
    {
        var submitted = await client.PostAsync($"/api/v1/projects/{project}/workflows", new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));
        submitted.StatusCode.ShouldBe(HttpStatusCode.Created, await submitted.Content.ReadAsStringAsync());
        var started = await Json(await client.PostAsync($"/api/v1/projects/{project}/workflows/{name}/runs", new StringContent("{\"parameters\":{}}", Encoding.UTF8, "application/json")), HttpStatusCode.Accepted);
        return started.GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> WaitFor(HttpClient client, string project, Guid run)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var body = await Json(await client.GetAsync($"/api/v1/projects/{project}/runs/{run}"), HttpStatusCode.OK);
            if (body.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled")
            {
                return body;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"Run {run} did not finish: {body}");
            }

            await Task.Delay(100);
        }
    }

    private static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_ingest_validate_transform_split_workflow_When_run_Then_each_step_outputs_refs_and_keys_and_lineage_follows_the_run(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var csv = new StringBuilder("id,age,country,score\n");
        for (var i = 1; i <= 50; i++)
        {
            csv.Append(i).Append(',').Append(20 + (i % 40)).Append(',').Append(i % 3 == 0 ? "DE" : "FR").Append(',').Append((i % 10) / 10.0).Append('\n');
        }

        var (dataset, uploaded) = await DatasetWith(api.Maintainer, api.Project, csv.ToString(), "wf");
        var suite = NewName("wfsuite");
        await Json(await CreateSuite(api.Maintainer, api.Project, suite, new object[] { new { type = "not_null", column = "age" }, new { type = "in_set", column = "country", values = new[] { "FR", "DE" } } }), HttpStatusCode.Created);
        var name = NewName("datawf");
        var output = NewName("adults");
        var id = await SubmitAndStart(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "ingest", type = "data.ingest", @params = new { dataset, upload = "latest" } },
                new { id = "validate", type = "data.validate", dependsOn = new[] { "ingest" }, @params = new { dataset = "${steps.ingest.outputs.ref}", suite } },
                new
                {
                    id = "transform", type = "data.transform", dependsOn = new[] { "validate" },
                    @params = new { input = "${steps.ingest.outputs.ref}", steps = new object[] { new { op = "filter", where = "age >= 30" }, new { op = "derive", column = "senior", expression = "age >= 50" } }, output },
                },
                new { id = "split", type = "data.split", dependsOn = new[] { "transform" }, @params = new { dataset = "${steps.transform.outputs.ref}", testFraction = 0.3, seed = 11 } },
            },
        }, name);

        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var ingest = Step(run, "ingest").GetProperty("outputs");
        ingest.GetProperty("ref").GetString().ShouldBe($"{dataset}@1");
        ingest.GetProperty("sha256").GetString().ShouldBe(uploaded.GetProperty("sha256").GetString());
        ingest.GetProperty("key").GetString().ShouldBe(uploaded.GetProperty("artifactKey").GetString());
        ingest.GetProperty("rows").GetInt64().ShouldBe(50);
        var validate = Step(run, "validate").GetProperty("outputs");
        validate.GetProperty("passed").GetBoolean().ShouldBeTrue();
        validate.GetProperty("failedRules").GetInt32().ShouldBe(0);
        Guid.TryParse(validate.GetProperty("report").GetString(), out _).ShouldBeTrue();
        var transform = Step(run, "transform").GetProperty("outputs");
        transform.GetProperty("ref").GetString().ShouldBe($"{output}@1");
        transform.GetProperty("key").GetString()!.ShouldEndWith(".csv");
        var split = Step(run, "split").GetProperty("outputs");
        split.GetProperty("train").GetString().ShouldBe($"{output}-train@1");
        split.GetProperty("test").GetString().ShouldBe($"{output}-test@1");
        split.GetProperty("trainKey").GetString()!.ShouldEndWith(".csv");
        (split.GetProperty("trainRows").GetInt64() + split.GetProperty("testRows").GetInt64()).ShouldBe(transform.GetProperty("rows").GetInt64());

        var produced = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{output}/versions/1"), HttpStatusCode.OK);
        produced.GetProperty("producedByRun").GetGuid().ShouldBe(id);
        produced.GetProperty("producedByStep").GetString().ShouldBe("transform");
        var graph = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?run={id}&direction=both"), HttpStatusCode.OK);
        var nodes = graph.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ToList();
        nodes.ShouldContain($"dataset:{dataset}@1");
        nodes.ShouldContain($"dataset:{output}@1");
        nodes.ShouldContain($"dataset:{output}-train@1");
        nodes.ShouldContain($"dataset:{output}-test@1");
        var fromTrain = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={output}-train@1&direction=upstream"), HttpStatusCode.OK);
        fromTrain.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ShouldContain($"dataset:{dataset}@1");

        var events = await hosts.Receiver.WaitForAsync(e => e["run"]?["facets"]?["parent"]?["run"]?["runId"]?.GetValue<string>() == id.ToString(), 6);
        events.Count.ShouldBeGreaterThanOrEqualTo(6);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_blocking_rule_failing_When_validate_step_runs_Then_the_step_and_run_fail_dependents_do_not_run_and_the_report_is_kept(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (dataset, _) = await DatasetWith(api.Maintainer, api.Project, QualityTests.Planted, "wfbad");
        var suite = NewName("strict");
        await Json(await CreateSuite(api.Maintainer, api.Project, suite, new object[]
        {
            new { type = "not_null", column = "age" },
            new { type = "in_set", column = "country", values = new[] { "FR", "DE" }, severity = "warning" },
        }), HttpStatusCode.Created);
        var warnOnly = NewName("lenient");
        await Json(await CreateSuite(api.Maintainer, api.Project, warnOnly, new object[] { new { type = "in_set", column = "country", values = new[] { "FR", "DE" }, severity = "warning" } }), HttpStatusCode.Created);
        var name = NewName("gate");
        var id = await SubmitAndStart(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "lenient", type = "data.validate", @params = new { dataset, version = 1, suite = warnOnly } },
                new { id = "validate", type = "data.validate", dependsOn = new[] { "lenient" }, @params = new { dataset = $"{dataset}@1", suite } },
                new { id = "after", type = "noop", dependsOn = new[] { "validate" } },
            },
        }, name);

        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        Step(run, "lenient").GetProperty("state").GetString().ShouldBe("succeeded");
        Step(run, "lenient").GetProperty("outputs").GetProperty("warnings").GetInt32().ShouldBe(1);
        Step(run, "validate").GetProperty("state").GetString().ShouldBe("failed");
        Step(run, "validate").GetProperty("attempts").GetArrayLength().ShouldBe(1);
        Step(run, "validate").GetProperty("attempts")[0].GetProperty("error").GetString()!.ShouldContain("not_null(age)");
        Step(run, "after").GetProperty("state").GetString().ShouldNotBe("succeeded");

        var events = await hosts.Receiver.WaitForAsync(e => e["run"]?["facets"]?["parent"]?["run"]?["runId"]?.GetValue<string>() == id.ToString() && e["job"]?["name"]?.GetValue<string>() == "data.validate.validate", 2);
        var complete = events.Single(e => e["eventType"]!.GetValue<string>() == "COMPLETE");
        complete["inputs"]![0]!["inputFacets"]!["dataQualityAssertions"]!["assertions"]![0]!["success"]!.GetValue<bool>().ShouldBeFalse();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_step_parameters_When_submitted_Then_422_naming_each_parameter(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("badparams");
        var response = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", new StringContent(JsonSerializer.Serialize(new
        {
            name,
            steps = new object[]
            {
                new { id = "ingest", type = "data.ingest", @params = new { dataset = "x" } },
                new { id = "split", type = "data.split", @params = new { dataset = "x@1", testFraction = 2.0 } },
                new { id = "validate", type = "data.validate", @params = new { dataset = "x@1" } },
            },
        }), Encoding.UTF8, "application/json"));
        var text = await response.Content.ReadAsStringAsync();
        // The workflow module answers an invalid definition with 422 and each problem's path.
        response.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity, text);
        text.ShouldContain("source");
        text.ShouldContain("testFraction");
        text.ShouldContain("suite");
    }
}
