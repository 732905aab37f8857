using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Workflows;

public sealed class WorkflowDefinitionTests(WorkflowHostsFixture hosts) : IClassFixture<WorkflowHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    private static string HelloYaml(string name, string duration = "1s") => $$$"""
        name: {{{name}}}
        description: noop, wait, noop
        parameters:
          greeting: {type: string, default: hello}
        steps:
          - id: start
            type: noop
            params:
              outputs: {message: "${params.greeting}"}
          - id: pause
            type: wait
            dependsOn: [start]
            params: {duration: {{{duration}}}}
          - id: finish
            type: noop
            dependsOn: [pause]
            params:
              outputs: {echo: "${steps.start.outputs.message} from ${run.id}"}
        """;

    private static string HelloJson(string name, string duration = "1s") => JsonSerializer.Serialize(new
    {
        name,
        description = "noop, wait, noop",
        parameters = new { greeting = new { type = "string", @default = "hello" } },
        steps = new object[]
        {
            new { id = "start", type = "noop", @params = new { outputs = new { message = "${params.greeting}" } } },
            new { id = "pause", type = "wait", dependsOn = new[] { "start" }, @params = new { duration } },
            new { id = "finish", type = "noop", dependsOn = new[] { "pause" }, @params = new { outputs = new { echo = "${steps.start.outputs.message} from ${run.id}" } } },
        },
    });

    private static Task<HttpResponseMessage> Submit(HttpClient client, string project, string body, string contentType = "application/json", string path = "") =>
        client.PostAsync($"/api/v1/projects/{project}/workflows{path}", new StringContent(body, Encoding.UTF8, contentType));

    private static async Task<JsonElement> Json(HttpResponseMessage response, HttpStatusCode expected)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(expected, text);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    private static async Task<JsonElement> Problem(HttpResponseMessage response, HttpStatusCode expected)
    {
        var problem = await Json(response, expected);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        problem.GetProperty("status").GetInt32().ShouldBe((int)expected);
        return problem;
    }

    private static List<(string Path, string Message)> Errors(JsonElement problem) =>
        problem.GetProperty("errors").EnumerateArray().Select(e => (e.GetProperty("path").GetString()!, e.GetProperty("message").GetString()!)).ToList();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_JSON_definition_When_submitted_Then_201_with_location_and_version_1_and_it_reads_back(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("json");

        var response = await Submit(api.Maintainer, api.Project, HelloJson(name));

        var created = await Json(response, HttpStatusCode.Created);
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/projects/{api.Project}/workflows/{name}/versions/1");
        created.GetProperty("name").GetString().ShouldBe(name);
        created.GetProperty("version").GetInt32().ShouldBe(1);
        created.GetProperty("sourceFormat").GetString().ShouldBe("json");
        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.OK);
        read.GetProperty("version").GetInt32().ShouldBe(1);
        read.GetProperty("contentHash").GetString().ShouldBe(created.GetProperty("contentHash").GetString());
        var steps = read.GetProperty("definition").GetProperty("steps");
        steps.GetArrayLength().ShouldBe(3);
        steps[1].GetProperty("params").GetProperty("duration").GetString().ShouldBe("1s");
    }

    public static TheoryData<DatabaseProvider, string> YamlTypes()
    {
        var data = new TheoryData<DatabaseProvider, string>();
        foreach (var provider in new[] { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql })
        {
            foreach (var type in new[] { "application/yaml", "application/x-yaml", "text/yaml" })
            {
                data.Add(provider, type);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(YamlTypes))]
    public async Task Given_YAML_definition_When_submitted_Then_201(DatabaseProvider provider, string contentType)
    {
        var api = await hosts.For(provider);
        var name = NewName("yaml");

        var created = await Json(await Submit(api.Maintainer, api.Project, HelloYaml(name), contentType), HttpStatusCode.Created);

        created.GetProperty("version").GetInt32().ShouldBe(1);
        created.GetProperty("sourceFormat").GetString().ShouldBe("yaml");
        created.GetProperty("definition").GetProperty("steps")[2].GetProperty("dependsOn")[0].GetString().ShouldBe("pause");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_the_same_definition_in_YAML_after_JSON_Then_200_with_the_existing_version(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("same");
        var first = await Json(await Submit(api.Maintainer, api.Project, HelloJson(name)), HttpStatusCode.Created);

        var response = await Submit(api.Maintainer, api.Project, HelloYaml(name), "application/yaml");

        var again = await Json(response, HttpStatusCode.OK);
        again.GetProperty("version").GetInt32().ShouldBe(1);
        again.GetProperty("contentHash").GetString().ShouldBe(first.GetProperty("contentHash").GetString());
        var versions = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}/versions"), HttpStatusCode.OK);
        versions.GetProperty("total").GetInt32().ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_changed_definition_Then_a_new_version_and_the_old_one_is_kept(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("change");
        await Json(await Submit(api.Maintainer, api.Project, HelloYaml(name, "1s"), "application/yaml"), HttpStatusCode.Created);

        var response = await Submit(api.Maintainer, api.Project, HelloYaml(name, "2s"), "application/yaml");
        await Json(await Submit(api.Admin, api.Project, HelloJson(name, "3s")), HttpStatusCode.Created);

        var second = await Json(response, HttpStatusCode.Created);
        second.GetProperty("version").GetInt32().ShouldBe(2);
        response.Headers.Location!.ToString().ShouldEndWith($"/workflows/{name}/versions/2");
        var latest = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.OK);
        latest.GetProperty("version").GetInt32().ShouldBe(3);
        latest.GetProperty("latestVersion").GetInt32().ShouldBe(3);
        var versions = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}/versions"), HttpStatusCode.OK);
        versions.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()).ShouldBe([3, 2, 1]);
        versions.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("sourceFormat").GetString()).ShouldBe(["json", "yaml", "yaml"]);
        var first = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}/versions/1"), HttpStatusCode.OK);
        first.GetProperty("version").GetInt32().ShouldBe(1);
        first.GetProperty("latestVersion").GetInt32().ShouldBe(3);
        first.GetProperty("definition").GetProperty("steps")[1].GetProperty("params").GetProperty("duration").GetString().ShouldBe("1s");
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}/versions/4"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_concurrent_submissions_of_different_definitions_Then_each_gets_its_own_version(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("race");

        var responses = await Task.WhenAll(Enumerable.Range(1, 5).Select(i => Submit(api.Maintainer, api.Project, HelloJson(name, $"{i}s"))));

        responses.Select(r => r.StatusCode).ShouldAllBe(s => s == HttpStatusCode.Created);
        var versions = new List<int>();
        foreach (var response in responses)
        {
            versions.Add((await Json(response, HttpStatusCode.Created)).GetProperty("version").GetInt32());
        }

        versions.Order().ShouldBe([1, 2, 3, 4, 5]);
        var list = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows?limit=200"), HttpStatusCode.OK);
        list.GetProperty("items").EnumerateArray().Count(w => w.GetProperty("name").GetString() == name).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_dry_run_Then_valid_or_the_same_errors_and_nothing_is_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("dry");

        var valid = await Json(await Submit(api.Viewer, api.Project, HelloYaml(name), "application/yaml", "/validate"), HttpStatusCode.OK);
        var invalid = await Problem(
            await Submit(api.Maintainer, api.Project, HelloYaml(name).Replace("type: wait", "type: sleep", StringComparison.Ordinal), "application/yaml", "/validate"),
            HttpStatusCode.UnprocessableEntity);

        valid.GetProperty("valid").GetBoolean().ShouldBeTrue();
        valid.GetProperty("steps").GetInt32().ShouldBe(3);
        valid.GetProperty("latestVersion").ValueKind.ShouldBe(JsonValueKind.Null);
        Errors(invalid).ShouldContain(e => e.Path == "steps[1].type");
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.NotFound);

        await Json(await Submit(api.Maintainer, api.Project, HelloYaml(name), "application/yaml"), HttpStatusCode.Created);
        var unchanged = await Json(await Submit(api.Maintainer, api.Project, HelloJson(name), "application/json", "/validate"), HttpStatusCode.OK);
        unchanged.GetProperty("latestVersion").GetInt32().ShouldBe(1);
        unchanged.GetProperty("unchanged").GetBoolean().ShouldBeTrue();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_scheduled_workflow_When_validated_Then_the_next_fire_times_are_shown_in_its_time_zone(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var yaml = HelloYaml(NewName("cron")) + "\nschedule: {cron: \"30 2 * * *\", timeZone: Asia/Kolkata, overlap: allow, catchUp: true}\n";

        var result = await Json(await Submit(api.Maintainer, api.Project, yaml, "application/yaml", "/validate"), HttpStatusCode.OK);

        var runs = result.GetProperty("nextScheduledRuns").EnumerateArray().Select(r => r.GetDateTimeOffset()).ToList();
        runs.Count.ShouldBe(5);
        runs.ShouldAllBe(r => r.ToUniversalTime().Hour == 21 && r.ToUniversalTime().Minute == 0);
        result.GetProperty("definition").GetProperty("schedule").GetProperty("overlap").GetString().ShouldBe("allow");
    }

    public static TheoryData<DatabaseProvider, string, string, int, string, string> BadDefinitions()
    {
        var cases = new (string Case, string Type, string Body, int Status, string Path, string Message)[]
        {
            ("malformed JSON", "application/json", "{\"name\": \"x\",\n \"steps\": [\n", 400, "$", "line 3"),
            ("malformed YAML", "application/yaml", "name: x\nsteps:\n  - id: a\n    type: [noop\n", 400, "$", "Invalid YAML at line"),
            ("duplicate ids", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop}\n- {id: a, type: noop}\n", 422, "steps[1].id", "Duplicate step id 'a'"),
            ("unknown type", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: model.trian}\n", 422, "steps[0].type", "Unknown step type 'model.trian'"),
            ("bad params", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: wait, params: {duration: forever}}\n", 422, "steps[0].params.duration", "not a duration"),
            ("unknown dependency", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop}\n- {id: b, type: noop, dependsOn: [a, c]}\n", 422, "steps[1].dependsOn[1]", "Unknown step 'c'"),
            ("cycle", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop, dependsOn: [c]}\n- {id: b, type: noop, dependsOn: [a]}\n- {id: c, type: noop, dependsOn: [b]}\n", 422, "steps[0].dependsOn[0]", "a → b → c → a"),
            ("template not upstream", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop}\n- {id: b, type: noop, params: {outputs: {x: \"${steps.a.outputs.y}\"}}}\n", 422, "steps[1].params.outputs.x", "not upstream of 'b'"),
            ("undeclared parameter", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop, params: {outputs: {x: \"${params.lr}\"}}}\n", 422, "steps[0].params.outputs.x", "not declared"),
            ("invalid cron", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop}\nschedule: {cron: \"0 25 * * *\"}\n", 422, "schedule.cron", "not a valid cron expression"),
            ("unknown time zone", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: noop}\nschedule: {cron: \"0 1 * * *\", timeZone: Moon/Base}\n", 422, "schedule.timeZone", "Unknown time zone"),
            ("default of the wrong type", "application/json", "{\"name\": \"NAME\", \"parameters\": {\"epochs\": {\"type\": \"int\", \"default\": \"ten\"}}, \"steps\": [{\"id\": \"a\", \"type\": \"noop\"}]}", 422, "parameters.epochs.default", "does not match"),
            ("host not allowed", "application/yaml", "name: NAME\nsteps:\n- {id: a, type: http, params: {url: \"https://evil.example.org/x\"}}\n", 422, "steps[0].params.url", "not on the allow-list"),
            ("invalid name", "application/yaml", "name: Bad Name\nsteps:\n- {id: a, type: noop}\n", 422, "name", "lower-case"),
        };
        var data = new TheoryData<DatabaseProvider, string, string, int, string, string>();
        foreach (var provider in new[] { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql })
        {
            foreach (var c in cases)
            {
                data.Add(provider, c.Case, c.Type + "|" + c.Body, c.Status, c.Path, c.Message);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(BadDefinitions))]
    public async Task Given_bad_definition_Then_problem_with_the_error_at_its_path_and_nothing_is_stored(
        DatabaseProvider provider, string @case, string typeAndBody, int status, string path, string message)
    {
        var api = await hosts.For(provider);
        var name = NewName("bad");
        var split = typeAndBody.IndexOf('|', StringComparison.Ordinal);
        var body = typeAndBody[(split + 1)..].Replace("NAME", name, StringComparison.Ordinal);

        var response = await Submit(api.Maintainer, api.Project, body, typeAndBody[..split]);

        var problem = await Problem(response, (HttpStatusCode)status);
        var errors = Errors(problem);
        errors.ShouldContain(e => e.Path == path && e.Message.Contains(message, StringComparison.Ordinal), $"{@case}: {problem}");
        if (status == 400)
        {
            problem.GetProperty("errors")[0].GetProperty("line").GetInt64().ShouldBeGreaterThan(0);
            problem.GetProperty("errors")[0].GetProperty("column").GetInt64().ShouldBeGreaterThan(0);
        }

        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_definition_with_many_errors_Then_422_lists_them_all_with_paths(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var yaml = """
            name: many-errors
            steps:
              - {id: a, type: noop, dependsOn: [ghost]}
              - {id: a, type: wat}
              - {id: c, type: wait, params: {duration: 0s}, retries: {max: -1}}
            schedule: {cron: "not cron", timeZone: Nowhere/City}
            """;

        var problem = await Problem(await Submit(api.Maintainer, api.Project, yaml, "application/yaml"), HttpStatusCode.UnprocessableEntity);

        Errors(problem).Select(e => e.Path).ShouldBe(
            ["steps[2].retries.max", "steps[1].id", "steps[1].type", "steps[2].params.duration", "steps[0].dependsOn[0]", "schedule.cron", "schedule.timeZone"],
            ignoreOrder: true);
        problem.GetProperty("title").GetString().ShouldBe("Invalid workflow definition");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_body_that_is_neither_JSON_nor_YAML_by_content_type_Then_415_problem(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var noType = new ByteArrayContent(Encoding.UTF8.GetBytes(HelloJson(NewName("notype"))));

        await Problem(await Submit(api.Maintainer, api.Project, HelloJson(NewName("plain")), "text/plain"), HttpStatusCode.UnsupportedMediaType);
        await Problem(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", noType), HttpStatusCode.UnsupportedMediaType);
        await Problem(await Submit(api.Maintainer, api.Project, HelloJson(NewName("xml")), "application/xml", "/validate"), HttpStatusCode.UnsupportedMediaType);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_deleted_workflow_Then_it_is_gone_and_its_name_starts_again_at_version_1(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("del");
        await Json(await Submit(api.Maintainer, api.Project, HelloYaml(name, "1s"), "application/yaml"), HttpStatusCode.Created);
        await Json(await Submit(api.Maintainer, api.Project, HelloYaml(name, "2s"), "application/yaml"), HttpStatusCode.Created);

        var deleted = await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/workflows/{name}");

        deleted.StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.NotFound);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}/versions"), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.NotFound);
        var list = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/workflows?limit=200"), HttpStatusCode.OK);
        list.GetProperty("items").EnumerateArray().ShouldNotContain(w => w.GetProperty("name").GetString() == name);
        var again = await Json(await Submit(api.Maintainer, api.Project, HelloYaml(name, "2s"), "application/yaml"), HttpStatusCode.Created);
        again.GetProperty("version").GetInt32().ShouldBe(1);
        await Problem(await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/workflows/{NewName("never")}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_many_workflows_Then_the_list_pages_by_name(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var project = NewName("pages");
        await WorkflowTestAccounts.CreateProjectAsync(api.Maintainer, project);
        foreach (var name in new[] { "c-flow", "a-flow", "b-flow" })
        {
            await Json(await Submit(api.Maintainer, project, HelloJson(name)), HttpStatusCode.Created);
        }

        var first = await Json(await api.Maintainer.GetAsync($"/api/v1/projects/{project}/workflows?limit=2"), HttpStatusCode.OK);
        var second = await Json(await api.Maintainer.GetAsync($"/api/v1/projects/{project}/workflows?offset=2&limit=2"), HttpStatusCode.OK);

        first.GetProperty("total").GetInt32().ShouldBe(3);
        first.GetProperty("items").EnumerateArray().Select(w => w.GetProperty("name").GetString()).ShouldBe(["a-flow", "b-flow"]);
        first.GetProperty("items")[0].GetProperty("latestVersion").GetInt32().ShouldBe(1);
        second.GetProperty("items").EnumerateArray().Select(w => w.GetProperty("name").GetString()).ShouldBe(["c-flow"]);
        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{project}/workflows?limit=0"), HttpStatusCode.BadRequest);
        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{project}/workflows/a-flow/versions?offset=-1"), HttpStatusCode.BadRequest);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_anonymous_caller_Then_every_workflow_endpoint_answers_401(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("anon");
        await Json(await Submit(api.Maintainer, api.Project, HelloJson(name)), HttpStatusCode.Created);
        var root = $"/api/v1/projects/{api.Project}/workflows";

        await Problem(await Submit(api.Anonymous, api.Project, HelloJson(NewName("anon"))), HttpStatusCode.Unauthorized);
        await Problem(await Submit(api.Anonymous, api.Project, HelloJson(name), path: "/validate"), HttpStatusCode.Unauthorized);
        foreach (var path in new[] { root, $"{root}/{name}", $"{root}/{name}/versions", $"{root}/{name}/versions/1" })
        {
            await Problem(await api.Anonymous.GetAsync(path), HttpStatusCode.Unauthorized);
        }

        await Problem(await api.Anonymous.DeleteAsync($"{root}/{name}"), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_viewer_Then_reads_and_dry_runs_but_cannot_create_or_delete(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("viewer");
        await Json(await Submit(api.Maintainer, api.Project, HelloJson(name)), HttpStatusCode.Created);
        var root = $"/api/v1/projects/{api.Project}/workflows";

        await Problem(await Submit(api.Viewer, api.Project, HelloJson(NewName("viewer"))), HttpStatusCode.Forbidden);
        await Problem(await Submit(api.Viewer, api.Project, HelloJson(name, "9s")), HttpStatusCode.Forbidden);
        await Problem(await api.Viewer.DeleteAsync($"{root}/{name}"), HttpStatusCode.Forbidden);
        // A viewer is refused before the body is looked at: a broken definition is still 403.
        await Problem(await Submit(api.Viewer, api.Project, "{not json"), HttpStatusCode.Forbidden);

        await Json(await Submit(api.Viewer, api.Project, HelloJson(name), path: "/validate"), HttpStatusCode.OK);
        (await api.Viewer.GetAsync(root)).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.Viewer.GetAsync($"{root}/{name}/versions/1")).StatusCode.ShouldBe(HttpStatusCode.OK);
        var latest = await Json(await api.Viewer.GetAsync($"{root}/{name}"), HttpStatusCode.OK);
        latest.GetProperty("version").GetInt32().ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_another_projects_workflow_Then_non_members_get_404_on_every_endpoint(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("private");
        await Json(await Submit(api.Outsider, api.OtherProject, HelloJson(name)), HttpStatusCode.Created);
        var theirs = $"/api/v1/projects/{api.OtherProject}/workflows";

        // Members of one project learn nothing about another's workflows...
        await Problem(await api.Maintainer.GetAsync($"{theirs}/{name}"), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.GetAsync(theirs), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.GetAsync($"{theirs}/{name}/versions/1"), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.DeleteAsync($"{theirs}/{name}"), HttpStatusCode.NotFound);
        await Problem(await Submit(api.Maintainer, api.OtherProject, HelloJson(name, "5s")), HttpStatusCode.NotFound);
        await Problem(await Submit(api.Maintainer, api.OtherProject, HelloJson(name), path: "/validate"), HttpStatusCode.NotFound);

        // ... and the same name in their own project is a different workflow.
        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/workflows/{name}"), HttpStatusCode.NotFound);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/workflows"), HttpStatusCode.NotFound);
        var mine = await Json(await Submit(api.Maintainer, api.Project, HelloJson(name, "5s")), HttpStatusCode.Created);
        mine.GetProperty("version").GetInt32().ShouldBe(1);
        var still = await Json(await api.Outsider.GetAsync($"{theirs}/{name}"), HttpStatusCode.OK);
        still.GetProperty("definition").GetProperty("steps")[1].GetProperty("params").GetProperty("duration").GetString().ShouldBe("1s");
    }
}
