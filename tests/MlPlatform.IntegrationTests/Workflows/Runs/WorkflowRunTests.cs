using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

public sealed class WorkflowRunTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    private static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    private static async Task Submit(HttpClient client, string project, object definition)
    {
        var response = await client.PostAsync($"/api/v1/projects/{project}/workflows",
            new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    private static Task<HttpResponseMessage> StartRaw(HttpClient client, string project, string workflow, object? parameters = null) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/workflows/{workflow}/runs", new { parameters = parameters ?? new { } });

    private static async Task<Guid> Start(HttpClient client, string project, string workflow, object? parameters = null)
    {
        var response = await StartRaw(client, project, workflow, parameters);
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        using var body = JsonDocument.Parse(text);
        var id = body.RootElement.GetProperty("id").GetGuid();
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/projects/{project}/runs/{id}");
        return id;
    }

    private static async Task<JsonElement> Get(HttpClient client, string project, Guid run)
    {
        var response = await client.GetAsync($"/api/v1/projects/{project}/runs/{run}");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        using var body = JsonDocument.Parse(text);
        return body.RootElement.Clone();
    }

    /// <summary>Polls until the run is in <paramref name="states"/> (a terminal state by default).</summary>
    private static async Task<JsonElement> WaitFor(HttpClient client, string project, Guid run, params string[] states)
    {
        states = states.Length > 0 ? states : ["succeeded", "failed", "cancelled"];
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var body = await Get(client, project, run);
            if (states.Contains(body.GetProperty("state").GetString()))
            {
                return body;
            }

            if (clock.Elapsed > RunTimeout)
            {
                throw new TimeoutException($"Run {run} did not reach {string.Join("/", states)}: {body}");
            }

            await Task.Delay(50);
        }
    }

    private static RunEventLog Events(Infrastructure.WorkflowTestAccounts api) => api.Factory.Services.GetRequiredService<RunEventLog>();

    private static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    private static string State(JsonElement run, string step) => Step(run, step).GetProperty("state").GetString()!;

    private static DateTimeOffset Time(JsonElement step, string field) => step.GetProperty(field).GetDateTimeOffset();

    private static List<JsonElement> Attempts(JsonElement run, string step) => Step(run, step).GetProperty("attempts").EnumerateArray().ToList();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_linear_chain_When_run_Then_steps_run_in_dependency_order_and_the_run_succeeds(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("chain");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "a", type = "noop" },
                new { id = "b", type = "noop", dependsOn = new[] { "a" } },
                new { id = "c", type = "noop", dependsOn = new[] { "b" } },
            },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        run.GetProperty("workflow").GetString().ShouldBe(name);
        run.GetProperty("version").GetInt32().ShouldBe(1);
        Time(Step(run, "b"), "startedAt").ShouldBeGreaterThanOrEqualTo(Time(Step(run, "a"), "finishedAt"));
        Time(Step(run, "c"), "startedAt").ShouldBeGreaterThanOrEqualTo(Time(Step(run, "b"), "finishedAt"));
        foreach (var step in new[] { "a", "b", "c" })
        {
            var attempts = Attempts(run, step);
            attempts.Count.ShouldBe(1);
            attempts[0].GetProperty("number").GetInt32().ShouldBe(1);
            attempts[0].GetProperty("state").GetString().ShouldBe("succeeded");
        }

        Time(run, "finishedAt").ShouldBeGreaterThanOrEqualTo(Time(Step(run, "c"), "finishedAt"));
        (await Events(api).WaitForAsync(id, "RunStarted", "RunSucceeded")).ShouldBe(["RunStarted", "RunSucceeded"], ignoreOrder: true);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_diamond_When_run_Then_both_branches_run_in_parallel_before_the_join(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("diamond");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "start", type = "noop" },
                new { id = "left", type = "test.sleep", dependsOn = new[] { "start" }, @params = new { ms = 1000 } },
                new { id = "right", type = "test.sleep", dependsOn = new[] { "start" }, @params = new { ms = 1000 } },
                new { id = "join", type = "noop", dependsOn = new[] { "left", "right" } },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var left = Step(run, "left");
        var right = Step(run, "right");
        // Overlapping intervals: each branch started before the other finished.
        Time(left, "startedAt").ShouldBeLessThan(Time(right, "finishedAt"));
        Time(right, "startedAt").ShouldBeLessThan(Time(left, "finishedAt"));
        var join = Time(Step(run, "join"), "startedAt");
        join.ShouldBeGreaterThanOrEqualTo(Time(left, "finishedAt"));
        join.ShouldBeGreaterThanOrEqualTo(Time(right, "finishedAt"));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_templates_When_run_Then_parameters_run_fields_and_outputs_flow_into_later_steps(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("tmpl");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            parameters = new { greeting = new { type = "string", @default = "hello" }, count = new { type = "int", @default = 1 } },
            steps = new object[]
            {
                new { id = "first", type = "noop", @params = new { outputs = new { message = "${params.greeting}", n = "${params.count}", nested = new { deep = 7 } } } },
                new
                {
                    id = "second", type = "noop", dependsOn = new[] { "first" },
                    @params = new { outputs = new { echo = "${steps.first.outputs.message} from ${run.id}", n = "${steps.first.outputs.n}", deep = "${steps.first.outputs.nested.deep}" } },
                },
            },
        });

        var id = await Start(api.Maintainer, api.Project, name, new { greeting = "hi", count = 3 });
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        run.GetProperty("parameters").GetProperty("greeting").GetString().ShouldBe("hi");
        var outputs = Step(run, "second").GetProperty("outputs");
        outputs.GetProperty("echo").GetString().ShouldBe($"hi from {id}");
        outputs.GetProperty("n").GetInt32().ShouldBe(3);
        outputs.GetProperty("deep").GetInt32().ShouldBe(7);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_step_failing_twice_with_retries_When_run_Then_retried_with_growing_backoff_and_succeeds(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("retry");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "flaky", type = "test.flaky", @params = new { failures = 2 }, retries = new { max = 3, backoff = "200ms", maxDelay = "5s" } },
                new { id = "after", type = "noop", dependsOn = new[] { "flaky" } },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var attempts = Attempts(run, "flaky");
        attempts.Select(a => a.GetProperty("state").GetString()).ShouldBe(["failed", "failed", "succeeded"]);
        attempts[0].GetProperty("error").GetString()!.ShouldContain("failing on purpose");
        Step(run, "flaky").GetProperty("outputs").GetProperty("attempt").GetInt32().ShouldBe(3);
        // Backoff 200ms doubling, with equal jitter: the first wait is 100-200ms, the second 200-400ms.
        var first = Time(attempts[1], "scheduledFor") - Time(attempts[0], "finishedAt");
        var second = Time(attempts[2], "scheduledFor") - Time(attempts[1], "finishedAt");
        first.TotalMilliseconds.ShouldBeInRange(99, 201);
        second.TotalMilliseconds.ShouldBeInRange(199, 401);
        for (var i = 1; i < attempts.Count; i++)
        {
            Time(attempts[i], "startedAt").ShouldBeGreaterThanOrEqualTo(Time(attempts[i], "scheduledFor").AddMilliseconds(-20));
        }

        State(run, "after").ShouldBe("succeeded");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_step_failing_beyond_its_retries_When_run_Then_the_run_fails_and_dependents_do_not_run(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("exhaust");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "flaky", type = "test.flaky", @params = new { failures = 10 }, retries = new { max = 1, backoff = "100ms" } },
                new { id = "after", type = "noop", dependsOn = new[] { "flaky" } },
                new { id = "independent", type = "noop" },
            },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        run.GetProperty("error").GetString()!.ShouldContain("flaky");
        // The first failure was retried, so only the second is a StepFailed.
        (await Events(api).WaitForAsync(id, "RunStarted", "StepFailed:flaky#2", "RunFailed")).ShouldBe(["RunStarted", "StepFailed:flaky#2", "RunFailed"], ignoreOrder: true);
        State(run, "flaky").ShouldBe("failed");
        Attempts(run, "flaky").Select(a => a.GetProperty("state").GetString()).ShouldBe(["failed", "failed"]);
        State(run, "after").ShouldBe("cancelled");
        Attempts(run, "after").ShouldBeEmpty();
        State(run, "independent").ShouldBe("succeeded");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_wait_step_When_run_Then_it_suspends_without_a_thread_and_resumes_in_the_same_attempt(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("wait");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "pause", type = "wait", @params = new { duration = "400ms" } },
                new { id = "after", type = "noop", dependsOn = new[] { "pause" } },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var attempt = Attempts(run, "pause").Single();
        attempt.GetProperty("state").GetString().ShouldBe("succeeded");
        (Time(attempt, "finishedAt") - Time(Step(run, "pause"), "startedAt")).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMilliseconds(390));
        Time(Step(run, "after"), "startedAt").ShouldBeGreaterThanOrEqualTo(Time(attempt, "finishedAt"));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_step_timeout_When_the_step_runs_longer_Then_its_token_is_cancelled_and_the_attempt_fails(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("timeout");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "slow", type = "test.sleep", @params = new { ms = 30_000 }, timeout = "300ms" } },
        });

        var clock = Stopwatch.StartNew();
        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(15)); // far below the 30 s sleep, with room for a slow machine
        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        var attempt = Attempts(run, "slow").Single();
        attempt.GetProperty("state").GetString().ShouldBe("failed");
        attempt.GetProperty("error").GetString()!.ShouldContain("Timed out");
        (Time(attempt, "finishedAt") - Time(attempt, "startedAt")).ShouldBeLessThan(TimeSpan.FromSeconds(3));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_running_run_When_cancelled_Then_202_running_step_stops_pending_steps_are_cancelled_and_a_second_cancel_is_409(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("cancel");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "long", type = "test.sleep", @params = new { ms = 30_000 } },
                new { id = "next", type = "noop", dependsOn = new[] { "long" } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        (await WaitFor(api.Maintainer, api.Project, id, "running", "succeeded", "failed", "cancelled")).GetProperty("state").GetString().ShouldBe("running");

        var clock = Stopwatch.StartNew();
        var cancel = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null);
        cancel.StatusCode.ShouldBe(HttpStatusCode.Accepted, await cancel.Content.ReadAsStringAsync());
        var run = await WaitFor(api.Maintainer, api.Project, id);
        run.GetProperty("state").GetString().ShouldBe("cancelled");
        State(run, "next").ShouldBe("cancelled");
        // The step ends with the run; the sleeping attempt's token is cancelled: it ends long before its 30 seconds.
        State(run, "long").ShouldBe("cancelled");
        var deadline = Stopwatch.StartNew();
        while (Attempts(run, "long").Single().GetProperty("state").GetString() != "cancelled" && deadline.Elapsed < TimeSpan.FromSeconds(5))
        {
            await Task.Delay(50);
            run = await Get(api.Maintainer, api.Project, id);
        }

        State(run, "long").ShouldBe("cancelled", run.ToString());
        Attempts(run, "long").Single().GetProperty("state").GetString().ShouldBe("cancelled");
        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(15)); // far below the 30 s sleep, with room for a slow machine

        var again = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null);
        again.StatusCode.ShouldBe(HttpStatusCode.Conflict);
        again.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_when_conditions_When_run_Then_false_skips_and_skipping_propagates_only_to_steps_whose_dependencies_all_skipped(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("when");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            parameters = new { deploy = new { type = "bool", @default = false } },
            steps = new object[]
            {
                new { id = "evaluate", type = "noop", @params = new { outputs = new { score = 0.93 } } },
                new { id = "deploy", type = "noop", dependsOn = new[] { "evaluate" }, when = "${params.deploy}" },
                new { id = "announce", type = "noop", dependsOn = new[] { "deploy" } },
                new { id = "report", type = "noop", dependsOn = new[] { "evaluate", "deploy" } },
                new { id = "register", type = "noop", dependsOn = new[] { "evaluate" }, when = "${steps.evaluate.outputs.score} >= 0.9" },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        State(run, "deploy").ShouldBe("skipped");
        Attempts(run, "deploy").ShouldBeEmpty();
        State(run, "announce").ShouldBe("skipped");
        State(run, "report").ShouldBe("succeeded");
        State(run, "register").ShouldBe("succeeded");

        var deployed = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name, new { deploy = true }));
        State(deployed, "deploy").ShouldBe("succeeded");
        State(deployed, "announce").ShouldBe("succeeded");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_parameters_or_callers_When_starting_Then_4xx_problems_and_no_run_is_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("badin");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            parameters = new { epochs = new { type = "int" }, rate = new { type = "number", @default = 0.1 } },
            steps = new object[] { new { id = "a", type = "noop" } },
        });

        async Task Expect(HttpResponseMessage response, HttpStatusCode status, string? errorKey = null)
        {
            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(status, text);
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
            if (errorKey is not null)
            {
                using var body = JsonDocument.Parse(text);
                body.RootElement.GetProperty("errors").TryGetProperty(errorKey, out _).ShouldBeTrue(text);
            }
        }

        await Expect(await StartRaw(api.Maintainer, api.Project, name, new { epochs = "ten" }), HttpStatusCode.BadRequest, "parameters.epochs");
        await Expect(await StartRaw(api.Maintainer, api.Project, name, new { epochs = 1.5 }), HttpStatusCode.BadRequest, "parameters.epochs");
        await Expect(await StartRaw(api.Maintainer, api.Project, name, new { epochs = 3, colour = "red" }), HttpStatusCode.BadRequest, "parameters.colour");
        await Expect(await StartRaw(api.Maintainer, api.Project, name), HttpStatusCode.BadRequest, "parameters.epochs");
        await Expect(await StartRaw(api.Maintainer, api.Project, NewName("missing"), new { }), HttpStatusCode.NotFound);
        await Expect(await StartRaw(api.Viewer, api.Project, name, new { epochs = 3 }), HttpStatusCode.Forbidden);
        await Expect(await StartRaw(api.Outsider, api.Project, name, new { epochs = 3 }), HttpStatusCode.NotFound);
        await Expect(await StartRaw(api.Anonymous, api.Project, name, new { epochs = 3 }), HttpStatusCode.Unauthorized);

        var list = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={name}");
        list.GetProperty("total").GetInt32().ShouldBe(0);

        var id = await Start(api.Maintainer, api.Project, name, new { epochs = 3 });
        var run = await WaitFor(api.Viewer, api.Project, id);
        run.GetProperty("parameters").GetProperty("epochs").GetInt32().ShouldBe(3);
        run.GetProperty("parameters").GetProperty("rate").GetDouble().ShouldBe(0.1);

        // Another project's run is unknown, through the other project or to a non-member.
        (await api.Outsider.GetAsync($"/api/v1/projects/{api.OtherProject}/runs/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await api.Outsider.PostAsync($"/api/v1/projects/{api.OtherProject}/runs/{id}/cancel", null)).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/runs/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/runs/{Guid.NewGuid()}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await api.Viewer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null)).StatusCode.ShouldBe(HttpStatusCode.Forbidden);

        list = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs?workflow={name}&state=succeeded&limit=10");
        list.GetProperty("total").GetInt32().ShouldBe(1);
        list.GetProperty("items")[0].GetProperty("id").GetGuid().ShouldBe(id);
        (await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/runs?state=bogus")).StatusCode.ShouldBe(HttpStatusCode.BadRequest);
    }
}
