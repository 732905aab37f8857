using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.EndToEnd;

/// <summary>
/// The shipped example (examples/data/loans.csv, examples/data/loans-checks.json,
/// examples/workflows/train-and-deploy.yaml) through the real host API, the calls
/// examples/train-and-deploy.sh makes: upload, suite, workflow, run, approval, prediction, lineage.
/// </summary>
public sealed class TrainAndDeployExampleTests
{
    private const string Dataset = "loans";
    private const string Endpoint = "loan-approval";
    private const string Model = "loan-approval";

    private static readonly string Root = FindRepositoryRoot();

    private static string FindRepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "MlPlatform.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No MlPlatform.sln above {AppContext.BaseDirectory}.");
    }

    private static byte[] Shipped(string relative) => File.ReadAllBytes(Path.Combine(Root, relative));

    private static async Task<JsonElement> Json(HttpResponseMessage response, params HttpStatusCode[] expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        expected.ShouldContain(response.StatusCode, $"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {text}");
        using var document = JsonDocument.Parse(text.Length == 0 ? "null" : text);
        return document.RootElement.Clone();
    }

    private static ByteArrayContent Body(byte[] bytes, string contentType)
    {
        var content = new ByteArrayContent(bytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        return content;
    }

    private static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    /// <summary>The first data row of the shipped CSV as feature values (numbers as numbers), and its label.</summary>
    private static (Dictionary<string, object> Features, bool Label) FirstRow()
    {
        var lines = File.ReadLines(Path.Combine(Root, "examples/data/loans.csv")).Take(2).ToArray();
        var header = lines[0].Split(',');
        var values = lines[1].Split(',');
        var features = new Dictionary<string, object>();
        for (var i = 0; i < header.Length; i++)
        {
            if (header[i] != "approved")
            {
                features[header[i]] = double.TryParse(values[i], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) ? number : values[i];
            }
        }

        return (features, bool.Parse(values[Array.IndexOf(header, "approved")]));
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task Given_the_shipped_example_When_run_as_the_script_does_Then_the_approved_model_is_served_and_lineage_leads_back_to_the_uploaded_file(DatabaseProvider provider)
    {
        await using var factory = await PlatformFactory.CreateAsync(provider);
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        var project = api.Project;
        var p = $"/api/v1/projects/{project}";
        var maintainer = api.Maintainer;

        // Upload the sample and create the suite from the shipped file, as the script does.
        await Json(await maintainer.PostAsJsonAsync($"{p}/datasets", new { name = Dataset }), HttpStatusCode.Created);
        var csv = Shipped("examples/data/loans.csv");
        var uploaded = await Json(await maintainer.PostAsync($"{p}/datasets/{Dataset}/versions", Body(csv, "text/csv")), HttpStatusCode.Created);
        uploaded.GetProperty("rows").GetInt64().ShouldBe(3000);
        var sha256 = uploaded.GetProperty("sha256").GetString()!;
        sha256.ShouldBe(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(csv)));
        var again = await Json(await maintainer.PostAsync($"{p}/datasets/{Dataset}/versions", Body(csv, "text/csv")), HttpStatusCode.OK);
        again.GetProperty("version").GetInt32().ShouldBe(1);
        await Json(await maintainer.PostAsync($"{p}/quality/suites", Body(Shipped("examples/data/loans-checks.json"), "application/json")), HttpStatusCode.Created);

        // Submit the YAML as shipped (twice: the second is the same version) and start a run with its defaults.
        var yaml = Shipped("examples/workflows/train-and-deploy.yaml");
        var workflow = await Json(await maintainer.PostAsync($"{p}/workflows", Body(yaml, "application/yaml")), HttpStatusCode.Created);
        var name = workflow.GetProperty("name").GetString()!;
        await Json(await maintainer.PostAsync($"{p}/workflows", Body(yaml, "application/yaml")), HttpStatusCode.OK);
        var started = await Json(await maintainer.PostAsJsonAsync($"{p}/workflows/{name}/runs", new { parameters = new { } }), HttpStatusCode.Accepted);
        var run = started.GetProperty("id").GetGuid();

        // Wait for the approval step; only the project's approvers (and administrators) may decide.
        var approval = await WaitFor(maintainer, $"{p}/approvals?state=waiting&limit=100",
            body => body.GetProperty("items").EnumerateArray().Where(a => a.GetProperty("runId").GetGuid() == run).Select(a => (JsonElement?)a).FirstOrDefault(),
            $"{p}/runs/{run}");
        var stepId = approval.GetProperty("stepId").GetString()!;
        stepId.ShouldBe("approve");
        approval.GetProperty("message").GetString()!.ShouldStartWith($"Promote {Model} v1 (accuracy ");
        await Json(await api.Viewer.PostAsJsonAsync($"{p}/runs/{run}/steps/{stepId}/approve", new { comment = "not mine" }), HttpStatusCode.Forbidden);
        await Json(await maintainer.PostAsJsonAsync($"{p}/runs/{run}/steps/{stepId}/approve", new { comment = "no approver right" }), HttpStatusCode.Forbidden);
        var approverName = $"e2e-approver-{Guid.NewGuid().ToString("N")[..8]}";
        var approverId = await WorkflowTestAccounts.CreateUserAsync(api.Admin, approverName);
        var member = await api.Admin.PutAsJsonAsync($"{p}/members/{approverId}", new { role = "Viewer", isApprover = true });
        member.IsSuccessStatusCode.ShouldBeTrue(await member.Content.ReadAsStringAsync());
        using var approver = await WorkflowTestAccounts.LoginAsync(factory, approverName, WorkflowTestAccounts.Password);
        var decided = await Json(await approver.PostAsJsonAsync($"{p}/runs/{run}/steps/{stepId}/approve", new { comment = "looks good" }), HttpStatusCode.OK);
        decided.GetProperty("state").GetString().ShouldBe("approved");

        var finished = await WaitFor(maintainer, $"{p}/runs/{run}",
            body => body.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled" ? body : null, $"{p}/runs/{run}");
        finished.GetProperty("state").GetString().ShouldBe("succeeded", finished.ToString());
        foreach (var id in new[] { "ingest", "validate", "split", "train", "evaluate", "register", "approve", "promote", "deploy" })
        {
            Step(finished, id).GetProperty("state").GetString().ShouldBe("succeeded", id);
        }

        Step(finished, "ingest").GetProperty("outputs").GetProperty("sha256").GetString().ShouldBe(sha256);
        Step(finished, "validate").GetProperty("outputs").GetProperty("passed").GetBoolean().ShouldBeTrue();
        var accuracy = Step(finished, "evaluate").GetProperty("outputs").GetProperty("accuracy").GetDouble();
        accuracy.ShouldBeGreaterThanOrEqualTo(0.7);
        var version = Step(finished, "register").GetProperty("outputs").GetProperty("version").GetInt32();
        Step(finished, "deploy").GetProperty("outputs").GetProperty("endpoint").GetString().ShouldBe(Endpoint);
        var champion = await Json(await maintainer.GetAsync($"{p}/models/{Model}/aliases/champion/version"), HttpStatusCode.OK);
        champion.GetProperty("version").GetInt32().ShouldBe(version);

        // /predict with named features: a probability and a label for the first row of the sample.
        var (features, _) = FirstRow();
        var predicted = await Json(await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{Endpoint}/predict", new { instances = new[] { features } }), HttpStatusCode.OK);
        predicted.GetProperty("model").GetString().ShouldBe(Model);
        predicted.GetProperty("version").GetInt32().ShouldBe(version);
        var prediction = predicted.GetProperty("predictions")[0];
        var probability = Value(prediction, "Probability").GetDouble();
        probability.ShouldBeInRange(0, 1);
        var label = Value(prediction, "PredictedLabel").GetBoolean();
        label.ShouldBe(probability > 0.5, prediction.ToString());

        // V2 infer with one [1,1] tensor per model input, built from the metadata as the script does.
        var metadata = await Json(await api.Viewer.GetAsync($"/v2/models/{Endpoint}"), HttpStatusCode.OK);
        var inputs = new JsonArray();
        foreach (var input in metadata.GetProperty("inputs").EnumerateArray())
        {
            var inputName = input.GetProperty("name").GetString()!;
            var datatype = input.GetProperty("datatype").GetString()!;
            JsonNode? value = features.TryGetValue(inputName, out var feature)
                ? JsonValue.Create(feature)
                : datatype switch { "BYTES" => "", "BOOL" => false, _ => 0 };
            inputs.Add(new JsonObject { ["name"] = inputName, ["shape"] = new JsonArray(1, 1), ["datatype"] = datatype, ["data"] = new JsonArray(value) });
        }

        var inferred = await Json(await api.Viewer.PostAsync($"/v2/models/{Endpoint}/infer", Body(Encoding.UTF8.GetBytes(new JsonObject { ["inputs"] = inputs }.ToJsonString()), "application/json")), HttpStatusCode.OK);
        var outputs = inferred.GetProperty("outputs").EnumerateArray().ToDictionary(o => o.GetProperty("name").GetString()!, o => o.GetProperty("data")[0]);
        outputs.Single(o => o.Key.StartsWith("Probability", StringComparison.Ordinal)).Value.GetDouble().ShouldBe(probability, 1e-6);
        outputs.Single(o => o.Key.StartsWith("PredictedLabel", StringComparison.Ordinal)).Value.GetBoolean().ShouldBe(label);

        // Lineage from the endpoint back to the bytes that were uploaded.
        var graph = await Json(await api.Viewer.GetAsync($"{p}/lineage?endpoint={Endpoint}&direction=upstream&depth=10"), HttpStatusCode.OK);
        var nodes = graph.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ToList();
        var edges = graph.GetProperty("edges").EnumerateArray().Select(e => $"{e.GetProperty("from").GetString()}->{e.GetProperty("to").GetString()}").ToList();
        var description = string.Join(Environment.NewLine, edges);
        edges.ShouldContain($"model:{Model}@{version}->endpoint:{Endpoint}", description);
        edges.ShouldContain($"dataset:{Dataset}-train@1->model:{Model}@{version}", description);
        nodes.ShouldContain($"dataset:{Dataset}@1", description);
        nodes.ShouldContain($"file:sha256:{sha256}", description);
        PathExists(edges, $"file:sha256:{sha256}", $"endpoint:{Endpoint}").ShouldBeTrue(description);
    }

    /// <summary>An output of a /predict answer by its ONNX name, with or without ML.NET's ".output" suffix.</summary>
    private static JsonElement Value(JsonElement prediction, string name)
    {
        var property = prediction.EnumerateObject().First(p => p.Name == name || p.Name == name + ".output").Value;
        return property.ValueKind == JsonValueKind.Array ? property[0] : property;
    }

    private static bool PathExists(List<string> edges, string from, string to)
    {
        var next = edges.Select(e => e.Split("->")).ToLookup(e => e[0], e => e[1]);
        var seen = new HashSet<string> { from };
        var queue = new Queue<string>([from]);
        while (queue.TryDequeue(out var node))
        {
            if (node == to)
            {
                return true;
            }

            foreach (var target in next[node].Where(seen.Add))
            {
                queue.Enqueue(target);
            }
        }

        return false;
    }

    /// <summary>Polls until <paramref name="found"/> answers; fails with the run's state when the run ends first or after 50 s.</summary>
    private static async Task<JsonElement> WaitFor(HttpClient client, string path, Func<JsonElement, JsonElement?> found, string runPath)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (found(await Json(await client.GetAsync(path), HttpStatusCode.OK)) is { } hit)
            {
                return hit;
            }

            var run = await Json(await client.GetAsync(runPath), HttpStatusCode.OK);
            if (run.GetProperty("state").GetString() is "failed" or "cancelled" || clock.Elapsed > TimeSpan.FromSeconds(50))
            {
                throw new TimeoutException($"Gave up waiting on {path}: {run}");
            }

            await Task.Delay(200);
        }
    }
}
