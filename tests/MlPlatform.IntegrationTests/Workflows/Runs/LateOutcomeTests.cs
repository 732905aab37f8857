using System.Net;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>
/// Outcomes that arrive after their run ended (timed out, cancelled) or after the step was started
/// over by a retry: recorded on their attempt only (cancelled, saying why), never on the step, the
/// run, the dependents or the events; the attempt keeps no lease and no pool slot. Both providers.
/// </summary>
public sealed class LateOutcomeTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static HoldStep Hold(WorkflowTestAccounts api) => api.Factory.Services.GetRequiredService<HoldStep>();

    private static RunEventLog Events(WorkflowTestAccounts api) => api.Factory.Services.GetRequiredService<RunEventLog>();

    /// <summary>A failed assertion must not leave an attempt holding the host's only "gpu" slot for the next test.</summary>
    private static void ReleaseAll(WorkflowTestAccounts api, Guid run)
    {
        foreach (var step in new[] { "held", "leaf" })
        {
            Hold(api).Release(run, step, 1);
            Hold(api).Release(run, step, 2);
        }
    }

    private static string AttemptState(JsonElement run, string step, int number) =>
        Attempts(run, step).Single(a => a.GetProperty("number").GetInt32() == number).GetProperty("state").GetString()!;

    /// <summary>
    /// A pooled step with a dependent and an unpooled leaf, both held past the run's end; the run
    /// ends by its timeout, or by a cancel (<paramref name="cancel"/>).
    /// </summary>
    private static async Task<(Guid Run, JsonElement Ended)> StartHeldAndStop(WorkflowTestAccounts api, bool cancel)
    {
        var name = NewName(cancel ? "late-cancel" : "late-timeout");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            // Long enough for both attempts to start first (the test waits for that); the cancel comes sooner.
            timeout = cancel ? "10m" : "5s",
            steps = new object[]
            {
                new { id = "held", type = "test.hold", pool = "gpu" },
                new { id = "next", type = "noop", dependsOn = new[] { "held" } },
                new { id = "leaf", type = "test.hold" },
            },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        try
        {
            await WaitUntil(api.Viewer, api.Project, id, r => Attempts(r, "held").Count == 1 && Attempts(r, "leaf").Count == 1
                && AttemptState(r, "held", 1) == "running" && AttemptState(r, "leaf", 1) == "running", "both held attempts running");
            if (cancel)
            {
                await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null), HttpStatusCode.Accepted);
            }

            var ended = await WaitFor(api.Viewer, api.Project, id);
            ended.GetProperty("state").GetString().ShouldBe(cancel ? "cancelled" : "failed", ended.ToString());
            // The run's end ends every step at once, including those whose attempts still run.
            State(ended, "held").ShouldBe("cancelled");
            State(ended, "leaf").ShouldBe("cancelled");
            State(ended, "next").ShouldBe("cancelled");
            AttemptState(ended, "held", 1).ShouldBe("running");
            return (id, ended);
        }
        catch
        {
            ReleaseAll(api, id);
            throw;
        }
    }

    private static async Task ReleaseAndExpectNothingChanged(WorkflowTestAccounts api, Guid id, JsonElement ended, string reason)
    {
        // The step-duration metric of the late attempts (only this class runs test.hold steps, one test at a time).
        var outcomes = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "MlPlatform.Workflows" && instrument.Name == "workflows.step.duration")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<double>((_, _, tags, _) =>
        {
            var all = tags.ToArray();
            if (all.Any(t => t is { Key: "type", Value: "test.hold" }))
            {
                outcomes.Enqueue((string)all.Single(t => t.Key == "outcome").Value!);
            }
        });
        listener.Start();

        Hold(api).Release(id, "held");
        Hold(api).Release(id, "leaf");
        var run = await WaitUntil(api.Viewer, api.Project, id, r => AttemptState(r, "held", 1) != "running" && AttemptState(r, "leaf", 1) != "running",
            "the late outcomes recorded");
        // Recorded before the outcome is stored, so both are in by now: as the engine counts them, cancelled.
        outcomes.ShouldBe(["cancelled", "cancelled"]);

        // The run, its steps and the dependent are as the stop left them.
        run.GetProperty("state").GetString().ShouldBe(ended.GetProperty("state").GetString(), run.ToString());
        run.GetProperty("error").GetString().ShouldBe(ended.GetProperty("error").GetString());
        run.GetProperty("finishedAt").GetDateTimeOffset().ShouldBe(ended.GetProperty("finishedAt").GetDateTimeOffset());
        foreach (var step in new[] { "held", "leaf", "next" })
        {
            State(run, step).ShouldBe("cancelled", run.ToString());
            Step(run, step).GetProperty("outputs").ValueKind.ShouldBe(JsonValueKind.Null);
            Step(run, step).GetProperty("finishedAt").GetDateTimeOffset().ShouldBe(Step(ended, step).GetProperty("finishedAt").GetDateTimeOffset());
        }

        Attempts(run, "next").ShouldBeEmpty();
        // The attempts are recorded as they ended: cancelled, their success discarded, and why.
        foreach (var step in new[] { "held", "leaf" })
        {
            var attempt = Attempts(run, step).Single();
            attempt.GetProperty("state").GetString().ShouldBe("cancelled");
            attempt.GetProperty("finishedAt").ValueKind.ShouldBe(JsonValueKind.String);
            var error = attempt.GetProperty("error").GetString()!;
            error.ShouldContain(reason);
            error.ShouldContain("succeeded after the run had ended");
        }

        // No lease and no pool slot is left: another run's pooled step gets the only "gpu" slot.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            (await db.StepAttempts.AsNoTracking().Where(a => a.RunId == id).Select(a => new { a.LeaseOwner, a.LeaseExpiresAt }).ToListAsync())
                .ShouldAllBe(a => a.LeaseOwner == null && a.LeaseExpiresAt == null);
            var attemptIds = await db.StepAttempts.AsNoTracking().Where(a => a.RunId == id).Select(a => a.Id).ToListAsync();
            (await db.PoolLeases.AsNoTracking().CountAsync(l => attemptIds.Contains(l.AttemptId))).ShouldBe(0);
        }

        var pooled = NewName("late-pool");
        await Submit(api.Maintainer, api.Project, new { name = pooled, steps = new object[] { new { id = "gpu", type = "noop", pool = "gpu" } } });
        var after = await Start(api.Maintainer, api.Project, pooled);
        (await WaitFor(api.Viewer, api.Project, after)).GetProperty("state").GetString().ShouldBe("succeeded");

        // Events: none for the late outcomes (the later run's own events arrived, so these would have too).
        (await Events(api).WaitForAsync(after, "RunSucceeded")).ShouldContain("RunSucceeded");
        var events = await Events(api).WaitForAsync(id);
        events.ShouldNotContain(e => e.StartsWith("StepFailed", StringComparison.Ordinal));
        events.ShouldNotContain("RunSucceeded");
        events.Count(e => e == "RunFailed").ShouldBe(ended.GetProperty("state").GetString() == "failed" ? 1 : 0);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_run_timed_out_When_a_running_attempt_then_succeeds_Then_only_the_attempt_is_recorded_and_nothing_else_changes(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (id, ended) = await StartHeldAndStop(api, cancel: false);
        try
        {
            ended.GetProperty("error").GetString()!.ShouldContain("timed out after 5s");
            (await Events(api).WaitForAsync(id, "RunFailed")).ShouldContain("RunFailed");

            await ReleaseAndExpectNothingChanged(api, id, ended, "timed out after 5s");
        }
        finally
        {
            ReleaseAll(api, id);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_run_cancelled_When_a_running_attempt_then_succeeds_Then_only_the_attempt_is_recorded_and_nothing_else_changes(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (id, ended) = await StartHeldAndStop(api, cancel: true);
        try
        {
            await ReleaseAndExpectNothingChanged(api, id, ended, "The run was cancelled");
        }
        finally
        {
            ReleaseAll(api, id);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_timed_out_run_retried_When_the_first_attempt_succeeds_late_Then_it_does_not_finish_the_step_its_new_attempt_does(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("late-retry");
        // One leaf step (its successes are recorded set-based), held on its first two attempts.
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            timeout = "3s",
            steps = new object[] { new { id = "held", type = "test.hold", @params = new { holdAttempts = 2 } } },
        });
        var id = await Start(api.Maintainer, api.Project, name);
        try
        {
            await RetriedWhileTheFirstAttemptRuns(api, id);
        }
        finally
        {
            ReleaseAll(api, id);
        }
    }

    private static async Task RetriedWhileTheFirstAttemptRuns(WorkflowTestAccounts api, Guid id)
    {
        await WaitUntil(api.Viewer, api.Project, id, r => Attempts(r, "held").Count == 1 && AttemptState(r, "held", 1) == "running", "the first attempt running");
        (await WaitFor(api.Viewer, api.Project, id)).GetProperty("state").GetString().ShouldBe("failed");

        // Retried while the first attempt still runs: a second attempt starts.
        await Expect(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/retry", null), HttpStatusCode.Accepted);
        // The retry gave the run a new deadline, as short as the first; moved out of reach here, so a
        // slow machine cannot time the run out again before the rest of the test has happened.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            var later = DateTimeOffset.UtcNow.AddMinutes(10);
            await db.Runs.Where(r => r.Id == id).ExecuteUpdateAsync(u => u.SetProperty(r => r.DeadlineAt, later));
        }

        await WaitUntil(api.Viewer, api.Project, id, r => Attempts(r, "held").Count == 2 && AttemptState(r, "held", 2) == "running", "the second attempt running");

        // The first attempt's late success is not the step's: the step and the run go on with the second.
        Hold(api).Release(id, "held", attempt: 1);
        var run = await WaitUntil(api.Viewer, api.Project, id, r => AttemptState(r, "held", 1) != "running", "the first attempt's outcome recorded");
        AttemptState(run, "held", 1).ShouldBe("cancelled");
        Attempts(run, "held")[0].GetProperty("error").GetString()!.ShouldContain("succeeded after the step was started again");
        AttemptState(run, "held", 2).ShouldBe("running");
        State(run, "held").ShouldBe("running");
        run.GetProperty("state").GetString().ShouldBe("running", run.ToString());

        Hold(api).Release(id, "held", attempt: 2);
        run = await WaitFor(api.Viewer, api.Project, id);
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        AttemptState(run, "held", 2).ShouldBe("succeeded");
        Step(run, "held").GetProperty("outputs").GetProperty("late").GetBoolean().ShouldBeTrue();
    }
}
