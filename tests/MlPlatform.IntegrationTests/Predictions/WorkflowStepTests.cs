using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Predictions.Batch;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>model.deploy and predict.batch inside real workflow runs, and the batch predictions API.</summary>
public sealed class WorkflowStepTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static float[] RowOf(int i) => [i * 0.01f, 1 - i * 0.02f, (i % 5) - 2];

    private static async Task<string> PutCsv(WorkflowTestAccounts api, int rows)
    {
        var csv = new StringBuilder("x0,x1,x2\n");
        for (var i = 0; i < rows; i++)
        {
            var r = RowOf(i);
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{r[0]:R},{r[1]:R},{r[2]:R}\n");
        }

        var key = $"projects/{api.Project}/inputs/{Guid.NewGuid():N}.csv";
        await api.Factory.Services.GetRequiredService<IObjectStore>().PutAsync(key, new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "text/csv");
        return key;
    }

    private static async Task<string> ReadObject(WorkflowTestAccounts api, string key)
    {
        await using var stream = await api.Factory.Services.GetRequiredService<IObjectStore>().OpenReadAsync(key);
        using var reader = new StreamReader(stream);
        return await reader.ReadToEndAsync();
    }

    private static async Task<JsonElement> RunWorkflow(WorkflowTestAccounts api, object definition)
    {
        var submit = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));
        submit.StatusCode.ShouldBe(HttpStatusCode.Created, await submit.Content.ReadAsStringAsync());
        var name = JsonDocument.Parse(JsonSerializer.Serialize(definition)).RootElement.GetProperty("name").GetString();
        var start = await Json(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/workflows/{name}/runs", new { parameters = new { } }), HttpStatusCode.Accepted);
        var id = start.GetProperty("id").GetGuid();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var run = await Json(await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/runs/{id}"), HttpStatusCode.OK);
            if (run.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled")
            {
                return run;
            }

            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(60), run.ToString());
            await Task.Delay(100);
        }
    }

    private static JsonElement Outputs(JsonElement run, string step) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == step).GetProperty("outputs");

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_workflow_with_model_deploy_and_predict_batch_Then_endpoint_serves_and_predictions_equal_reference(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var input = await PutCsv(api, 600);
        var endpoint = NewName("wf-ep");

        var run = await RunWorkflow(api, new
        {
            name = NewName("deploy"),
            steps = new object[]
            {
                new { id = "deploy", type = "model.deploy", @params = new { endpoint, model, version = 1 } },
                new { id = "score", type = "predict.batch", dependsOn = new[] { "deploy" }, @params = new { endpoint = $"${{steps.deploy.outputs.endpoint}}", input } },
            },
        });

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        Outputs(run, "deploy").GetProperty("version").GetInt32().ShouldBe(1);
        var score = Outputs(run, "score");
        score.GetProperty("rows").GetInt64().ShouldBe(600);
        var outputKey = score.GetProperty("outputKey").GetString()!;
        outputKey.ShouldEndWith(".csv");
        var lines = (await ReadObject(api, outputKey)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines[0].ShouldBe("y");
        lines.Length.ShouldBe(601);
        for (var i = 0; i < 600; i++)
        {
            float.Parse(lines[i + 1], System.Globalization.CultureInfo.InvariantCulture).ShouldBe(Expected(1, RowOf(i)), 1e-6f);
        }

        Output(await Json(await Infer(api.Viewer, endpoint, V2Body(RowOf(3))), HttpStatusCode.OK))[0].ShouldBe(Expected(1, RowOf(3)), 1e-6f);

        // A second deploy adds a canary variant with 20%; the existing one keeps the rest.
        var second = await RunWorkflow(api, new
        {
            name = NewName("canary"),
            steps = new object[] { new { id = "deploy", type = "model.deploy", @params = new { endpoint, model, version = 2, variant = "canary", weight = 20 } } },
        });
        second.GetProperty("state").GetString().ShouldBe("succeeded", second.ToString());
        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.OK);
        read.GetProperty("variants").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!, v => v.GetProperty("weight").GetInt32())
            .ShouldBe(new Dictionary<string, int> { [model] = 80, ["canary"] = 20 }, ignoreOrder: true);

        // predict.batch by model and version, JSON lines in and out.
        var jsonl = $"projects/{api.Project}/inputs/{Guid.NewGuid():N}.jsonl";
        await api.Factory.Services.GetRequiredService<IObjectStore>().PutAsync(jsonl, new MemoryStream(Encoding.UTF8.GetBytes(string.Join("\n", Enumerable.Range(0, 10).Select(i => JsonSerializer.Serialize(new { x = RowOf(i) }))))));
        var third = await RunWorkflow(api, new
        {
            name = NewName("score"),
            steps = new object[] { new { id = "score", type = "predict.batch", @params = new { model, version = 2, input = jsonl } } },
        });
        third.GetProperty("state").GetString().ShouldBe("succeeded", third.ToString());
        var answers = (await ReadObject(api, Outputs(third, "score").GetProperty("outputKey").GetString()!)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        answers.Length.ShouldBe(10);
        for (var i = 0; i < 10; i++)
        {
            using var line = JsonDocument.Parse(answers[i]);
            line.RootElement.GetProperty("row").GetInt32().ShouldBe(i);
            line.RootElement.GetProperty("y").GetSingle().ShouldBe(Expected(2, RowOf(i)), 1e-6f);
        }

        // Another project's object is out of a step's reach, and so is writing outside this project's area.
        var foreign = $"projects/{api.OtherProject}/inputs/{Guid.NewGuid():N}.jsonl";
        await api.Factory.Services.GetRequiredService<IObjectStore>().PutAsync(foreign, new MemoryStream(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { x = RowOf(0) }))));
        var refused = await RunWorkflow(api, new
        {
            name = NewName("foreign"),
            steps = new object[] { new { id = "score", type = "predict.batch", @params = new { model, version = 2, input = foreign } } },
        });
        refused.GetProperty("state").GetString().ShouldBe("failed", refused.ToString());
        refused.ToString().ShouldContain("was not found");
        var misplaced = await RunWorkflow(api, new
        {
            name = NewName("misplaced"),
            steps = new object[] { new { id = "score", type = "predict.batch", @params = new { model, version = 2, input = jsonl, output = $"predictions/{Guid.NewGuid():N}/out.jsonl" } } },
        });
        misplaced.GetProperty("state").GetString().ShouldBe("failed", misplaced.ToString());
        misplaced.ToString().ShouldContain("outside this project's area");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_batch_prediction_request_Then_job_reports_progress_and_writes_predictions(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        var input = await PutCsv(api, 1000);

        await Problem(await api.Viewer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input }), HttpStatusCode.Forbidden);
        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input = "../etc/passwd.csv" }), HttpStatusCode.BadRequest);
        // Only this project's areas of the store: another project's file reads as missing, a write elsewhere is refused,
        // and a missing input is a 404 now rather than a job that fails later. No job is stored for any of them.
        var theirs = $"projects/{api.OtherProject}/inputs/{Guid.NewGuid():N}.csv";
        await api.Factory.Services.GetRequiredService<IObjectStore>().PutAsync(theirs, new MemoryStream(Encoding.UTF8.GetBytes("x0,x1,x2\n1,2,3\n")), "text/csv");
        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input = theirs }), HttpStatusCode.NotFound);
        (await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input, output = $"projects/{api.OtherProject}/stolen.csv" }), HttpStatusCode.BadRequest))
            .GetProperty("detail").GetString()!.ShouldContain("outside this project's area");
        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input = $"projects/{api.Project}/missing.csv" }), HttpStatusCode.NotFound);
        (await api.Factory.Services.GetRequiredService<IObjectStore>().GetInfoAsync($"projects/{api.OtherProject}/stolen.csv")).ShouldBeNull();
        var started = await Json(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input }), HttpStatusCode.Accepted);
        var id = started.GetProperty("id").GetGuid();

        var clock = Stopwatch.StartNew();
        JsonElement job;
        do
        {
            await Task.Delay(50);
            job = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions/{id}"), HttpStatusCode.OK);
            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30));
        }
        while (job.GetProperty("state").GetString() is "queued" or "running");

        job.GetProperty("state").GetString().ShouldBe("succeeded", job.ToString());
        job.GetProperty("rows").GetInt64().ShouldBe(1000);
        job.GetProperty("progress").GetDouble().ShouldBe(1.0);
        var lines = (await ReadObject(api, job.GetProperty("output").GetString()!)).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(1001);
        float.Parse(lines[500], System.Globalization.CultureInfo.InvariantCulture).ShouldBe(Expected(1, RowOf(499)), 1e-6f);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions/{id}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_batch_jobs_When_listed_cancelled_and_deleted_Then_a_cancelled_one_stops_without_output_and_only_ended_ones_are_deleted_with_their_output(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        var root = $"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions";
        async Task<JsonElement> Read(Guid id) => await Json(await api.Viewer.GetAsync($"{root}/{id}"), HttpStatusCode.OK);
        static bool Active(JsonElement job) => job.GetProperty("state").GetString() is "queued" or "running";

        var small = (await Json(await api.Maintainer.PostAsJsonAsync(root, new { input = await PutCsv(api, 10) }), HttpStatusCode.Accepted)).GetProperty("id").GetGuid();
        (await Polling.UntilAsync(() => Read(small), job => !Active(job), TimeSpan.FromSeconds(60))).GetProperty("state").GetString().ShouldBe("succeeded");

        // Cancelled once it has reported progress: surely running, with most of its 200,000 rows to go.
        var input = await PutCsv(api, 200_000);
        var large = (await Json(await api.Maintainer.PostAsJsonAsync(root, new { input }), HttpStatusCode.Accepted)).GetProperty("id").GetGuid();
        (await Polling.UntilAsync(() => Read(large), job => job.GetProperty("rows").GetInt64() > 0, TimeSpan.FromSeconds(60))).GetProperty("state").GetString().ShouldBe("running");
        await Problem(await api.Viewer.PostAsync($"{root}/{large}/cancel", null), HttpStatusCode.Forbidden);
        await Problem(await api.Outsider.PostAsync($"{root}/{large}/cancel", null), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.PostAsync($"{root}/{Guid.NewGuid()}/cancel", null), HttpStatusCode.NotFound);
        var cancelled = await Json(await api.Maintainer.PostAsync($"{root}/{large}/cancel", null), HttpStatusCode.OK);
        cancelled.GetProperty("state").GetString().ShouldBe("cancelled");
        cancelled.GetProperty("finishedAt").ValueKind.ShouldBe(JsonValueKind.String);
        var rowsAtCancel = cancelled.GetProperty("rows").GetInt64();
        rowsAtCancel.ShouldBeLessThan(200_000);

        // Its host stops at its next progress report. The same input run to the end after it, with a
        // head start for the cancelled one, is done first: had the cancelled run gone on, its output
        // would be there by then. Nothing more is recorded for it, and its output never appears.
        var whole = (await Json(await api.Maintainer.PostAsJsonAsync(root, new { input }), HttpStatusCode.Accepted)).GetProperty("id").GetGuid();
        var done = await Polling.UntilAsync(() => Read(whole), job => !Active(job), TimeSpan.FromSeconds(120));
        done.GetProperty("state").GetString().ShouldBe("succeeded");
        done.GetProperty("rows").GetInt64().ShouldBe(200_000);
        var after = await Read(large);
        after.GetProperty("state").GetString().ShouldBe("cancelled");
        after.GetProperty("rows").GetInt64().ShouldBe(rowsAtCancel);
        (await api.Factory.Services.GetRequiredService<IObjectStore>().GetInfoAsync(after.GetProperty("output").GetString()!)).ShouldBeNull();
        (await api.Maintainer.DeleteAsync($"{root}/{whole}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);

        // An ended job cannot be cancelled.
        (await Problem(await api.Maintainer.PostAsync($"{root}/{large}/cancel", null), HttpStatusCode.Conflict)).GetProperty("detail").GetString()!.ShouldContain("cancelled");
        (await Problem(await api.Maintainer.PostAsync($"{root}/{small}/cancel", null), HttpStatusCode.Conflict)).GetProperty("detail").GetString()!.ShouldContain("succeeded");

        // The list: newest first, by state, paged; bad paging or an unknown state is a 400, an outsider a 404.
        async Task<List<Guid>> Ids(string url) =>
            (await Json(await api.Viewer.GetAsync(url), HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Select(j => j.GetProperty("id").GetGuid()).ToList();
        (await Json(await api.Viewer.GetAsync(root), HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(2);
        (await Ids(root)).ShouldBe([large, small]);
        (await Ids($"{root}?state=cancelled")).ShouldBe([large]);
        (await Ids($"{root}?offset=1&limit=1")).ShouldBe([small]);
        await Problem(await api.Viewer.GetAsync($"{root}?state=paused"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"{root}?limit=0"), HttpStatusCode.BadRequest);
        await Problem(await api.Outsider.GetAsync(root), HttpStatusCode.NotFound);

        // Deleting an ended job removes it and its output; a job still running must be cancelled first.
        var output = (await Read(small)).GetProperty("output").GetString()!;
        var objects = api.Factory.Services.GetRequiredService<IObjectStore>();
        (await objects.GetInfoAsync(output)).ShouldNotBeNull();
        await Problem(await api.Viewer.DeleteAsync($"{root}/{small}"), HttpStatusCode.Forbidden);
        await Problem(await api.Outsider.DeleteAsync($"{root}/{small}"), HttpStatusCode.NotFound);
        (await api.Maintainer.DeleteAsync($"{root}/{small}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await objects.GetInfoAsync(output)).ShouldBeNull();
        await Problem(await api.Viewer.GetAsync($"{root}/{small}"), HttpStatusCode.NotFound);
        (await Ids(root)).ShouldBe([large]);
        // A job that did not succeed wrote no output: a file already at its output key stays.
        var existing = await PutCsv(api, 3);
        var busy = (await Json(await api.Maintainer.PostAsJsonAsync(root, new { input, output = existing }), HttpStatusCode.Accepted)).GetProperty("id").GetGuid();
        (await Problem(await api.Maintainer.DeleteAsync($"{root}/{busy}"), HttpStatusCode.Conflict)).GetProperty("detail").GetString()!.ShouldContain("cancel it first");
        await Json(await api.Maintainer.PostAsync($"{root}/{busy}/cancel", null), HttpStatusCode.OK);
        (await api.Maintainer.DeleteAsync($"{root}/{busy}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        (await ReadObject(api, existing)).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBe(4);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_batch_run_When_its_token_is_cancelled_after_the_first_chunk_Then_it_stops_before_the_next_and_writes_no_output(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        var input = await PutCsv(api, 10 * BatchPredictor.ChunkRows);
        var output = $"projects/{api.Project}/outputs/{Guid.NewGuid():N}.csv";
        var served = await api.Factory.Services.GetRequiredService<EndpointRouter>().GetAsync(endpoint, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var reports = 0;

        // As a cancelled run or step does: the token is cancelled while the batch is under way.
        await Should.ThrowAsync<OperationCanceledException>(() => api.Factory.Services.GetRequiredService<BatchPredictor>().RunAsync(
            served.ShouldNotBeNull().Primary, input, output, _ => { reports++; return cancel.CancelAsync(); }, cancel.Token));

        reports.ShouldBe(1);
        (await api.Factory.Services.GetRequiredService<IObjectStore>().GetInfoAsync(output)).ShouldBeNull();
    }
}
