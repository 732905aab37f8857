using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.Runs;

namespace MlPlatform.IntegrationTests.Messaging;

/// <summary>
/// <see cref="ModuleDbContext.AddBulk{T}"/> (COPY on PostgreSQL, prepared INSERTs on SQLite) writes
/// the rows EF would have written, in the save's transaction, and nothing when that rolls back or
/// when the context goes back to the pool unsaved. Run on the Workflows context's run steps.
/// </summary>
public sealed class BulkRowsTests
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<InProcessHost> Host(DatabaseProvider provider, PostgresDatabase? postgres)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-bulk-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(dataDirectory);
        return await InProcessHost.StartAsync(provider, dataDirectory, postgres?.ConnectionString, []);
    }

    private static WorkflowRun NewRun() => new()
    {
        Id = Guid.CreateVersion7(),
        ProjectId = Guid.NewGuid(),
        WorkflowId = Guid.NewGuid(),
        WorkflowName = "bulk",
        Version = 1,
        State = RunStates.Running,
        Parameters = "{}",
        CreatedAt = DateTimeOffset.UtcNow,
    };

    private static RunStep NewStep(Guid runId, int ordinal, bool full) => new()
    {
        Id = Guid.CreateVersion7(),
        RunId = runId,
        StepId = $"s{ordinal}",
        Ordinal = ordinal,
        Type = "noop",
        State = full ? StepStates.Succeeded : StepStates.Pending,
        Outputs = full ? """{"rows":3,"note":"é ✓ \"quoted\""}""" : null,
        Error = full ? "line 1\nline 2" : null,
        Attempts = full ? 2 : 0,
        // Sub-millisecond times survive both conversions (SQLite keeps 100 µs, PostgreSQL 1 µs).
        StartedAt = full ? new DateTimeOffset(2026, 11, 30, 1, 2, 3, 456, 700, TimeSpan.Zero) : null,
        FinishedAt = full ? new DateTimeOffset(2026, 11, 30, 0, 0, 4, 0, TimeSpan.Zero) : null,
        OverriddenBy = full ? "alice" : null,
    };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_rows_added_in_bulk_When_saved_Then_they_read_back_as_the_rows_EF_writes(DatabaseProvider provider)
    {
        await using var postgres = provider == DatabaseProvider.PostgreSql ? await PostgresDatabase.CreateAsync() : null;
        await using var host = await Host(provider, postgres);
        var run = NewRun();
        var bulk = Enumerable.Range(0, 500).Select(i => NewStep(run.Id, i, full: i % 2 == 0)).ToList();
        var tracked = new[] { NewStep(run.Id, 1000, full: true), NewStep(run.Id, 1001, full: false) };
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            db.Runs.Add(run);
            db.RunSteps.AddRange(tracked);
            db.AddBulk(bulk);
            (await db.SaveChangesAsync()).ShouldBe(1 + 2 + 500);
            db.ChangeTracker.Entries<RunStep>().Count().ShouldBe(2, "bulk rows are not tracked");
        }

        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            var stored = await db.RunSteps.AsNoTracking().Where(s => s.RunId == run.Id).ToDictionaryAsync(s => s.Id);
            stored.Count.ShouldBe(502);
            foreach (var expected in bulk)
            {
                Same(stored[expected.Id], expected);
            }

            // Field for field like the rows EF itself wrote.
            Same(stored[tracked[0].Id], tracked[0]);
            Same(stored[tracked[1].Id], tracked[1]);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_save_that_fails_after_bulk_rows_When_it_rolls_back_Then_neither_the_tracked_nor_the_bulk_rows_are_stored(DatabaseProvider provider)
    {
        await using var postgres = provider == DatabaseProvider.PostgreSql ? await PostgresDatabase.CreateAsync() : null;
        await using var host = await Host(provider, postgres);
        var run = NewRun();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            db.Runs.Add(run);
            // Two steps with one (run, step id): the unique index fails the COPY / INSERTs after the run's row was written.
            db.AddBulk(new List<RunStep> { NewStep(run.Id, 1, full: false), NewStep(run.Id, 1, full: true) });
            var failed = false;
            try
            {
                await db.SaveChangesAsync();
            }
            catch (Exception ex) when (ex is DbUpdateException or System.Data.Common.DbException)
            {
                failed = true;
            }

            failed.ShouldBeTrue("a duplicate (run, step id) must fail the save");
        }

        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            (await db.Runs.AnyAsync(r => r.Id == run.Id)).ShouldBeFalse("the run's row went with the failed transaction");
            (await db.RunSteps.AnyAsync(s => s.RunId == run.Id)).ShouldBeFalse();
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bulk_rows_never_saved_When_the_pooled_context_is_reused_Then_its_next_save_does_not_write_them(DatabaseProvider provider)
    {
        await using var postgres = provider == DatabaseProvider.PostgreSql ? await PostgresDatabase.CreateAsync() : null;
        await using var host = await Host(provider, postgres);
        var abandoned = NewRun();
        var run = NewRun();
        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            db.AddBulk(new List<RunStep> { NewStep(abandoned.Id, 1, full: false) });
        }

        // Scopes lease contexts from the pool one after another: the next save is the run's alone.
        for (var i = 0; i < 4; i++)
        {
            await using var scope = host.Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            if (i == 0)
            {
                db.Runs.Add(run);
            }

            await db.SaveChangesAsync();
        }

        await using (var scope = host.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
            (await db.Runs.AnyAsync(r => r.Id == run.Id)).ShouldBeTrue();
            (await db.RunSteps.AnyAsync(s => s.RunId == abandoned.Id)).ShouldBeFalse();
        }
    }

    private static void Same(RunStep actual, RunStep expected)
    {
        actual.RunId.ShouldBe(expected.RunId);
        actual.StepId.ShouldBe(expected.StepId);
        actual.Ordinal.ShouldBe(expected.Ordinal);
        actual.Type.ShouldBe(expected.Type);
        actual.State.ShouldBe(expected.State);
        actual.Outputs.ShouldBe(expected.Outputs);
        actual.Error.ShouldBe(expected.Error);
        actual.Attempts.ShouldBe(expected.Attempts);
        (actual.StartedAt == expected.StartedAt).ShouldBeTrue($"started {actual.StartedAt:O} vs {expected.StartedAt:O}");
        (actual.FinishedAt == expected.FinishedAt).ShouldBeTrue($"finished {actual.FinishedAt:O} vs {expected.FinishedAt:O}");
        actual.OverriddenBy.ShouldBe(expected.OverriddenBy);
        actual.OverriddenAt.ShouldBe(expected.OverriddenAt);
        actual.OverrideComment.ShouldBe(expected.OverrideComment);
    }
}
