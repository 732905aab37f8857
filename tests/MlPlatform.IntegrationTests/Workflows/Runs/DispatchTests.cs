using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>
/// The dispatcher's safety nets, on one host per provider: an attempt whose host stopped renewing
/// its lease is recorded as lost and run again; an attempt that is due but was never handed to a
/// dispatcher (its host died after the commit) is picked up by an idle host; a long chain runs
/// through the in-process continuation with one attempt per step.
/// </summary>
public sealed class DispatchTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_running_attempt_whose_lease_expired_When_the_sweep_runs_Then_it_fails_as_host_lost_and_attempt_2_runs(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("lease");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "gate", type = "approval", @params = new { message = "Go?" } },
                new { id = "after", type = "noop", dependsOn = new[] { "gate" } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        await WaitUntil(api.Viewer, api.Project, id, r => Step(r, "gate").TryGetProperty("approval", out var a) && a.ValueKind == JsonValueKind.Object, "gate waiting");

        // As if the attempt were running on a thread of a host that died a minute ago.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            var attempt = await db.StepAttempts.SingleAsync(a => a.RunId == id && a.Number == 1);
            attempt.State.ShouldBe(AttemptStates.Running);
            attempt.LeaseOwner.ShouldBeNull("a step waiting for a signal holds no thread and no lease");
            attempt.SuspendState = null;
            attempt.LeaseOwner = "dead-host:1:0#1";
            attempt.LeaseExpiresAt = DateTimeOffset.UtcNow.AddMinutes(-1);
            await db.SaveChangesAsync();
        }

        var run = await WaitUntil(api.Viewer, api.Project, id, r => Attempts(r, "gate").Count == 2, "a second attempt of gate");
        var attempts = Attempts(run, "gate");
        attempts[0].GetProperty("state").GetString().ShouldBe("failed");
        attempts[0].GetProperty("error").GetString()!.ShouldContain("host");
        attempts[1].GetProperty("number").GetInt32().ShouldBe(2);
        State(run, "after").ShouldBe("pending");
        run = await WaitUntil(api.Viewer, api.Project, id, r => Step(r, "gate").TryGetProperty("approval", out var a) && a.ValueKind == JsonValueKind.Object
            && a.GetProperty("state").GetString() == "waiting", "gate waiting again");

        // The lost attempt's request was closed: one request waits, attempt 2's.
        var approvals = (await api.Viewer.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{api.Project}/approvals?limit=200"))
            .GetProperty("items").EnumerateArray().Where(a => a.GetProperty("runId").GetGuid() == id).ToList();
        approvals.Count.ShouldBe(2);
        approvals.Select(a => a.GetProperty("state").GetString()).Order().ShouldBe(["cancelled", "waiting"]);
        (await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null)).IsSuccessStatusCode.ShouldBeTrue();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_an_approved_step_whose_host_died_while_resuming_it_When_the_sweep_runs_Then_attempt_2_keeps_the_decision_and_the_run_succeeds(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("decided");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "gate", type = "approval", @params = new { message = "Go?" } },
                new { id = "after", type = "noop", dependsOn = new[] { "gate" } },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        await WaitUntil(api.Viewer, api.Project, id, r => Step(r, "gate").TryGetProperty("approval", out var a) && a.ValueKind == JsonValueKind.Object, "gate waiting");

        // As if the decision had been delivered and the host resuming the step died a minute ago.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            var attempt = await db.StepAttempts.SingleAsync(a => a.RunId == id && a.Number == 1);
            var approval = await db.Approvals.SingleAsync(a => a.AttemptId == attempt.Id);
            approval.State = ApprovalStates.Approved;
            approval.DecidedAt = DateTimeOffset.UtcNow;
            approval.DecidedByName = "carol";
            attempt.Signal = new JsonObject { ["decision"] = "approved", ["by"] = "carol", ["comment"] = "ship it" }.ToJsonString();
            attempt.LeaseOwner = "dead-host:1:0#1";
            attempt.LeaseExpiresAt = DateTimeOffset.UtcNow.AddMinutes(-1);
            await db.SaveChangesAsync();
        }

        var run = await WaitUntil(api.Viewer, api.Project, id, r => r.GetProperty("state").GetString() is "succeeded" or "failed" or "cancelled", "the run to finish");
        run.GetProperty("state").GetString().ShouldBe("succeeded");
        var attempts = Attempts(run, "gate");
        attempts.Count.ShouldBe(2);
        attempts[0].GetProperty("error").GetString()!.ShouldContain("host");
        Step(run, "gate").GetProperty("outputs").GetProperty("approvedBy").GetString().ShouldBe("carol");
        State(run, "after").ShouldBe("succeeded");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_due_attempt_no_dispatcher_was_given_When_the_host_is_idle_Then_it_takes_and_runs_it(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("orphan");
        await Submit(api.Maintainer, api.Project, new { name, steps = new object[] { new { id = "pause", type = "wait", @params = new { duration = "1h" } } } });
        var id = await Start(api.Maintainer, api.Project, name);
        // Suspended: queued again, an hour from now (before its first run it is queued too, but due now).
        await WaitUntil(api.Viewer, api.Project, id, r => Attempts(r, "pause").Count == 1 && Attempts(r, "pause")[0].GetProperty("state").GetString() == "queued"
            && Attempts(r, "pause")[0].GetProperty("scheduledFor").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(30), "pause suspended");

        // Its Quartz trigger is an hour away; make it due ten seconds ago, as if the host that
        // committed it had died before handing it over.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            var attempt = await db.StepAttempts.SingleAsync(a => a.RunId == id);
            var past = DateTimeOffset.UtcNow.AddSeconds(-10);
            attempt.ScheduledFor = past;
            attempt.SuspendState = new System.Text.Json.Nodes.JsonObject { ["until"] = past }.ToJsonString();
            await db.SaveChangesAsync();
        }

        var run = await WaitFor(api.Viewer, api.Project, id);
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        Attempts(run, "pause").Count.ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_chain_of_60_steps_with_templates_When_it_runs_Then_each_step_runs_once_in_order_and_sees_its_upstream_outputs(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("chain");
        var steps = Enumerable.Range(0, 60).Select(i => i == 0
            ? (object)new { id = "s0", type = "noop", @params = new { outputs = new { n = 0 } } }
            : new { id = $"s{i}", type = "noop", dependsOn = new[] { $"s{i - 1}" }, @params = new { outputs = new { n = i, first = "${steps.s0.outputs.n}" } } });
        await Submit(api.Maintainer, api.Project, new { name, steps });
        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Viewer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        DateTimeOffset? previous = null;
        for (var i = 0; i < 60; i++)
        {
            var step = Step(run, $"s{i}");
            Attempts(run, $"s{i}").Count.ShouldBe(1);
            var started = step.GetProperty("startedAt").GetDateTimeOffset();
            if (previous is { } before)
            {
                started.ShouldBeGreaterThanOrEqualTo(before, $"s{i} started before s{i - 1} finished");
            }

            previous = step.GetProperty("finishedAt").GetDateTimeOffset();
            if (i > 0)
            {
                step.GetProperty("outputs").GetProperty("first").GetInt32().ShouldBe(0);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_fan_out_of_300_leaves_with_one_failing_When_it_runs_Then_every_leaf_is_recorded_once_with_its_outputs_and_the_run_fails_naming_only_that_leaf(DatabaseProvider provider)
    {
        // Leaf successes are recorded set-based, the failure and the pooled ones through the entities, often in one batch.
        var api = await hosts.For(provider);
        var name = NewName("leaves");
        // A few leaves hold a pool slot, which their finish must give back.
        var steps = Enumerable.Range(0, 300).Select(i => i switch
        {
            150 => (object)new { id = $"s{i}", type = "test.flaky", @params = new { failures = 1 } },
            < 5 => new { id = $"s{i}", type = "noop", pool = "wide", @params = new { outputs = new { n = i, parity = i % 2 == 0 ? "even" : "odd" } } },
            _ => new { id = $"s{i}", type = "noop", @params = new { outputs = new { n = i, parity = i % 2 == 0 ? "even" : "odd" } } },
        });
        await Submit(api.Maintainer, api.Project, new { name, steps });
        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Viewer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        run.GetProperty("error").GetString().ShouldBe("Failed steps: s150.");
        State(run, "s150").ShouldBe("failed");
        var finished = run.GetProperty("finishedAt").GetDateTimeOffset();
        for (var i = 0; i < 300; i++)
        {
            if (i == 150)
            {
                continue;
            }

            var step = Step(run, $"s{i}");
            step.GetProperty("state").GetString().ShouldBe("succeeded", $"s{i}");
            step.GetProperty("outputs").GetProperty("n").GetInt32().ShouldBe(i);
            step.GetProperty("outputs").GetProperty("parity").GetString().ShouldBe(i % 2 == 0 ? "even" : "odd");
            step.GetProperty("finishedAt").GetDateTimeOffset().ShouldBeLessThanOrEqualTo(finished);
            var attempts = Attempts(run, $"s{i}");
            attempts.Count.ShouldBe(1, $"s{i} ran more than once");
            attempts[0].GetProperty("state").GetString().ShouldBe("succeeded");
            attempts[0].GetProperty("finishedAt").GetDateTimeOffset().ShouldBe(step.GetProperty("finishedAt").GetDateTimeOffset());
        }

        // Nothing is left holding a lease.
        using var scope = api.Factory.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
        (await db.StepAttempts.CountAsync(a => a.RunId == id && (a.LeaseOwner != null || a.LeaseExpiresAt != null))).ShouldBe(0);
        (await db.PoolLeases.CountAsync(l => db.StepAttempts.Any(a => a.Id == l.AttemptId && a.RunId == id))).ShouldBe(0);
    }
}
