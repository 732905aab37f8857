using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Approvals, per-attempt logs, retry from failure, marking steps by hand and run timeouts, on both providers.</summary>
public sealed class RunControlTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static RunEventLog Events(WorkflowTestAccounts api) => api.Factory.Services.GetRequiredService<RunEventLog>();

    private static Task<HttpResponseMessage> Decide(HttpClient client, string project, Guid run, string step, string decision, string? comment = null) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/runs/{run}/steps/{step}/{decision}", new { comment });

    private static Task<JsonElement> WaitForApproval(WorkflowTestAccounts api, Guid run, string step) =>
        WaitUntil(api.Viewer, api.Project, run, r => Step(r, step).TryGetProperty("approval", out var a) && a.ValueKind == JsonValueKind.Object
            && a.GetProperty("state").GetString() == "waiting", $"{step} waiting for approval");

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_waiting_approval_When_members_decide_Then_only_the_permitted_role_may_and_the_decision_is_recorded(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("approve");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "gate", type = "approval", @params = new { message = "Deploy to production?" } },
                new { id = "deploy", type = "noop", dependsOn = new[] { "gate" }, @params = new { outputs = new { by = "${steps.gate.outputs.approvedBy}" } } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        var waiting = await WaitForApproval(api, id, "gate");
        State(waiting, "gate").ShouldBe("running");
        Attempts(waiting, "gate").Single().GetProperty("state").GetString().ShouldBe("running");
        (await Events(api).WaitForAsync(id, "ApprovalRequested:gate:Approver")).ShouldContain("ApprovalRequested:gate:Approver");
        var pending = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/approvals?state=waiting");
        pending.GetProperty("items").EnumerateArray().Select(a => a.GetProperty("runId").GetGuid()).ShouldContain(id);

        // The default role is the project's approver right: a Maintainer or Viewer without it is refused.
        await Expect(await Decide(api.Maintainer, api.Project, id, "gate", "approve"), HttpStatusCode.Forbidden);
        await Expect(await Decide(api.Viewer, api.Project, id, "gate", "reject"), HttpStatusCode.Forbidden);
        await Expect(await Decide(api.Outsider, api.Project, id, "gate", "approve"), HttpStatusCode.NotFound);
        await Expect(await Decide(api.Outsider, api.OtherProject, id, "gate", "approve"), HttpStatusCode.NotFound);
        await Expect(await Decide(api.Anonymous, api.Project, id, "gate", "approve"), HttpStatusCode.Unauthorized);
        await Expect(await Decide(api.Admin, api.Project, id, "nosuchstep", "approve"), HttpStatusCode.NotFound);
        await Expect(await Decide(api.Admin, api.Project, Guid.NewGuid(), "gate", "approve"), HttpStatusCode.NotFound);
        // A step that is not waiting for a decision.
        await Expect(await Decide(api.Admin, api.Project, id, "deploy", "approve"), HttpStatusCode.Conflict);
        await Expect(await Decide(api.Admin, api.Project, id, "gate", "approve", new string('x', 2001)), HttpStatusCode.BadRequest);

        var decided = await Expect(await Decide(api.Admin, api.Project, id, "gate", "approve", "Looks good"), HttpStatusCode.OK);
        decided.GetProperty("state").GetString().ShouldBe("approved");
        decided.GetProperty("decidedBy").GetString().ShouldBe(TestUsers.AdminName);
        decided.GetProperty("comment").GetString().ShouldBe("Looks good");

        var run = await WaitFor(api.Viewer, api.Project, id);
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var gate = Step(run, "gate");
        gate.GetProperty("outputs").GetProperty("approvedBy").GetString().ShouldBe(TestUsers.AdminName);
        gate.GetProperty("outputs").GetProperty("comment").GetString().ShouldBe("Looks good");
        gate.GetProperty("approval").GetProperty("decidedAt").GetDateTimeOffset().ShouldBeGreaterThan(gate.GetProperty("startedAt").GetDateTimeOffset());
        Attempts(run, "gate").Single().GetProperty("state").GetString().ShouldBe("succeeded");
        Step(run, "deploy").GetProperty("outputs").GetProperty("by").GetString().ShouldBe(TestUsers.AdminName);

        // Decided once: a second decision is a conflict.
        await Expect(await Decide(api.Admin, api.Project, id, "gate", "reject"), HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_approval_open_to_viewers_When_a_viewer_rejects_Then_the_step_fails_with_the_comment_and_a_cancelled_run_refuses_decisions(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("reject");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "gate", type = "approval", @params = new { message = "Ship it?", roles = new[] { "Viewer" } } },
                new { id = "after", type = "noop", dependsOn = new[] { "gate" } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        await WaitForApproval(api, id, "gate");

        var decided = await Expect(await Decide(api.Viewer, api.Project, id, "gate", "reject", "metrics regressed"), HttpStatusCode.OK);
        decided.GetProperty("state").GetString().ShouldBe("rejected");
        var run = await WaitFor(api.Viewer, api.Project, id);
        run.GetProperty("state").GetString().ShouldBe("failed");
        State(run, "gate").ShouldBe("failed");
        Step(run, "gate").GetProperty("error").GetString()!.ShouldContain("metrics regressed");
        State(run, "after").ShouldBe("cancelled");

        // Cancelling a run that waits for a decision ends the wait; deciding afterwards is a conflict.
        var second = await Start(api.Maintainer, api.Project, name);
        await WaitForApproval(api, second, "gate");
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{second}/cancel", null), HttpStatusCode.Accepted);
        var cancelled = await WaitFor(api.Viewer, api.Project, second);
        cancelled.GetProperty("state").GetString().ShouldBe("cancelled");
        Step(cancelled, "gate").GetProperty("approval").GetProperty("state").GetString().ShouldBe("cancelled");
        await Expect(await Decide(api.Viewer, api.Project, second, "gate", "approve"), HttpStatusCode.Conflict);
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{second}/cancel", null), HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_step_writing_its_log_When_followed_live_and_paged_Then_every_line_arrives_in_order_and_the_stream_ends_with_the_attempt(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("logs");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "talk", type = "test.log", @params = new { lines = 6, ms = 150 } },
                new { id = "broken", type = "test.log", @params = new { lines = 2, fail = true } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        await WaitUntil(api.Viewer, api.Project, id, r => Attempts(r, "talk").Count > 0, "a first attempt");

        // Live: the Viewer follows while the step still writes.
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/1/logs/stream");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await api.Viewer.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cts.Token);
        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType?.MediaType.ShouldBe("text/event-stream");
        var events = new List<(string Event, string Data)>();
        using (var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cts.Token)))
        {
            string? type = null;
            while (await reader.ReadLineAsync(cts.Token) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    events.Add((type ?? "message", line["data: ".Length..]));
                }
            }
        }

        var logLines = events.Where(e => e.Event == "log").Select(e => JsonDocument.Parse(e.Data).RootElement.GetProperty("message").GetString()).ToList();
        logLines.ShouldBe(Enumerable.Range(1, 6).Select(i => (string?)$"line {i}").ToList());
        events[^1].Event.ShouldBe("end");
        events[^1].Data.ShouldContain("succeeded");

        // Paged: two lines at a time, with sequence numbers.
        var first = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/1/logs?limit=2");
        first.GetProperty("items").EnumerateArray().Select(l => l.GetProperty("sequence").GetInt32()).ShouldBe([1, 2]);
        first.GetProperty("finished").GetBoolean().ShouldBeFalse();
        var rest = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/1/logs?after={first.GetProperty("next").GetInt32()}&limit=100");
        rest.GetProperty("items").EnumerateArray().Select(l => l.GetProperty("message").GetString()).ShouldBe(["line 3", "line 4", "line 5", "line 6"]);
        rest.GetProperty("finished").GetBoolean().ShouldBeTrue();

        // A failed attempt's log ends with why it failed.
        await WaitFor(api.Viewer, api.Project, id);
        var broken = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs/{id}/steps/broken/attempts/1/logs");
        var last = broken.GetProperty("items").EnumerateArray().Last();
        last.GetProperty("level").GetString().ShouldBe("error");
        last.GetProperty("message").GetString()!.ShouldContain("failing after the lines");

        await Expect(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/1/logs"), HttpStatusCode.NotFound);
        await Expect(await api.Outsider.GetAsync($"/api/v1/projects/{api.OtherProject}/runs/{id}/steps/talk/attempts/1/logs/stream"), HttpStatusCode.NotFound);
        await Expect(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/9/logs"), HttpStatusCode.NotFound);
        await Expect(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/1/logs?limit=0"), HttpStatusCode.BadRequest);
        await Expect(await api.Anonymous.GetAsync($"/api/v1/projects/{api.Project}/runs/{id}/steps/talk/attempts/1/logs"), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_step_logging_past_the_limit_When_run_Then_the_stored_log_is_bounded_with_a_notice(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("loud");
        await Submit(api.Maintainer, api.Project, new { name, steps = new object[] { new { id = "loud", type = "test.log", @params = new { lines = 10_050 } } } });
        var id = await Start(api.Maintainer, api.Project, name);
        (await WaitFor(api.Viewer, api.Project, id)).GetProperty("state").GetString().ShouldBe("succeeded");

        var page = await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/runs/{id}/steps/loud/attempts/1/logs?after=9998&limit=1000");
        var items = page.GetProperty("items").EnumerateArray().ToList();
        items.Select(l => l.GetProperty("sequence").GetInt32()).ShouldBe([9999, 10000, 10001]);
        items[1].GetProperty("message").GetString().ShouldBe("line 10000");
        items[2].GetProperty("message").GetString()!.ShouldContain("later lines are not stored");
        page.GetProperty("finished").GetBoolean().ShouldBeTrue();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_failed_run_When_retried_Then_only_failed_and_blocked_steps_run_again_and_succeeded_outputs_are_kept(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("rerun");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "prepare", type = "noop", @params = new { outputs = new { data = "runs/x/data.csv" } } },
                new { id = "flaky", type = "test.flaky", dependsOn = new[] { "prepare" }, @params = new { failures = 1 } },
                new { id = "after", type = "noop", dependsOn = new[] { "flaky" }, @params = new { outputs = new { data = "${steps.prepare.outputs.data}" } } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        var failed = await WaitFor(api.Maintainer, api.Project, id);
        failed.GetProperty("state").GetString().ShouldBe("failed");
        State(failed, "after").ShouldBe("cancelled");
        var prepareFinished = Step(failed, "prepare").GetProperty("finishedAt").GetDateTimeOffset();

        await Expect(await api.Viewer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/retry", null), HttpStatusCode.Forbidden);
        await Expect(await api.Outsider.PostAsync($"/api/v1/projects/{api.OtherProject}/runs/{id}/retry", null), HttpStatusCode.NotFound);
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/retry", null), HttpStatusCode.Accepted);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        Attempts(run, "prepare").Count.ShouldBe(1);
        Step(run, "prepare").GetProperty("finishedAt").GetDateTimeOffset().ShouldBe(prepareFinished);
        Attempts(run, "flaky").Select(a => a.GetProperty("number").GetInt32()).ShouldBe([1, 2]);
        Attempts(run, "flaky").Select(a => a.GetProperty("state").GetString()).ShouldBe(["failed", "succeeded"]);
        Step(run, "after").GetProperty("outputs").GetProperty("data").GetString().ShouldBe("runs/x/data.csv");
        (await Events(api).WaitForAsync(id, "RunFailed", "RunSucceeded")).ShouldContain("RunSucceeded");

        // Only a failed run can be retried; a finished run cannot be cancelled.
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/retry", null), HttpStatusCode.Conflict);
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null), HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_failed_step_When_marked_succeeded_or_skipped_Then_it_is_audited_on_the_step_and_the_run_continues(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("mark");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "broken", type = "test.flaky", @params = new { failures = 100 } },
                new { id = "after", type = "noop", dependsOn = new[] { "broken" }, @params = new { outputs = new { x = "${steps.broken.outputs.x}" } } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        (await WaitFor(api.Maintainer, api.Project, id)).GetProperty("state").GetString().ShouldBe("failed");

        var mark = $"/api/v1/projects/{api.Project}/runs/{id}/steps/broken/mark";
        await Expect(await api.Viewer.PostAsJsonAsync(mark, new { state = "succeeded" }), HttpStatusCode.Forbidden);
        await Expect(await api.Maintainer.PostAsJsonAsync(mark, new { state = "running" }), HttpStatusCode.BadRequest);
        await Expect(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/runs/{id}/steps/nope/mark", new { state = "skipped" }), HttpStatusCode.NotFound);
        await Expect(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/runs/{id}/steps/after/mark", new { state = "skipped" }), HttpStatusCode.Conflict);
        await Expect(await api.Maintainer.PostAsJsonAsync(mark, new { state = "succeeded", outputs = new { x = 5 }, comment = "fixed by hand" }), HttpStatusCode.Accepted);

        var run = await WaitFor(api.Maintainer, api.Project, id);
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var broken = Step(run, "broken");
        broken.GetProperty("state").GetString().ShouldBe("succeeded");
        broken.GetProperty("override").GetProperty("comment").GetString().ShouldBe("fixed by hand");
        broken.GetProperty("override").GetProperty("by").GetString()!.ShouldStartWith("wf-maint-");
        Step(run, "after").GetProperty("outputs").GetProperty("x").GetInt32().ShouldBe(5);
        await Expect(await api.Maintainer.PostAsJsonAsync(mark, new { state = "skipped" }), HttpStatusCode.Conflict);

        // Skipped: the dependents whose dependencies were all skipped are skipped too, and the run succeeds.
        var second = await Start(api.Maintainer, api.Project, name);
        (await WaitFor(api.Maintainer, api.Project, second)).GetProperty("state").GetString().ShouldBe("failed");
        await Expect(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/runs/{second}/steps/broken/mark", new { state = "skipped" }), HttpStatusCode.Accepted);
        var skipped = await WaitFor(api.Maintainer, api.Project, second);
        skipped.GetProperty("state").GetString().ShouldBe("succeeded", skipped.ToString());
        State(skipped, "broken").ShouldBe("skipped");
        State(skipped, "after").ShouldBe("skipped");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_run_timeout_When_a_step_runs_longer_Then_the_run_fails_and_the_running_step_is_cancelled(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("runtimeout");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            timeout = "1s",
            steps = new object[]
            {
                new { id = "slow", type = "test.sleep", @params = new { ms = 30_000 } },
                new { id = "next", type = "noop", dependsOn = new[] { "slow" } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        run.GetProperty("error").GetString()!.ShouldContain("timed out after 1s");
        State(run, "next").ShouldBe("cancelled");
        // The step ends with the run; its attempt when it has noticed (its token is cancelled).
        State(run, "slow").ShouldBe("cancelled");
        run = await WaitUntil(api.Maintainer, api.Project, id, r => Attempts(r, "slow").Single().GetProperty("state").GetString() == "cancelled", "the slow attempt cancelled");
        Attempts(run, "slow").Single().GetProperty("error").GetString()!.ShouldContain("timed out");
        (await Events(api).WaitForAsync(id, "RunFailed")).ShouldContain("RunFailed");
    }
}
