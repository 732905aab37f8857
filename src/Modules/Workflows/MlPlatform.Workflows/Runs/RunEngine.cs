using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Contracts.Runs;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Persistence;
using MlPlatform.Workflows.StepTypes;
using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>How an attempt ended, as the engine records it.</summary>
public abstract record AttemptOutcome
{
    public sealed record Succeeded(JsonObject Outputs) : AttemptOutcome;

    /// <summary><see cref="HostLost"/>: the host running it died, so the step never had its full chance.</summary>
    public sealed record Failed(string Error, bool Retryable, bool HostLost = false) : AttemptOutcome;

    public sealed record Cancelled(string Reason) : AttemptOutcome;

    /// <summary>The step asked to run again at <see cref="ResumeAt"/> (a wait), keeping <see cref="State"/>.</summary>
    public sealed record Suspended(DateTimeOffset? ResumeAt, JsonNode? State) : AttemptOutcome;
}

/// <summary>
/// The state transitions of runs, steps and attempts. Every transition of a run's steps happens in
/// one transaction that first bumps the run's revision (the run's lock), then decides which steps
/// became ready, skipped or cancelled, and records the events; the attempts it created are handed
/// to Quartz after the commit, so a trigger never fires for an attempt that is not yet visible.
/// </summary>
public sealed class RunEngine(WorkflowsDbContext db, DefinitionCache definitions, TimeProvider clock, ISchedulerFactory schedulers, Concurrency.PoolOptions pools, AttemptDispatcher dispatcher, EngineOptions options)
{
    public const string AttemptGroup = "workflow-attempts";
    public const string AttemptKey = "attempt";

    /// <summary>Extra attempts allowed for attempts whose host died.</summary>
    public const int MaxLostAttempts = 3;

    /// <summary>Adds a new run with its steps, makes the root steps ready and schedules them.</summary>
    public async Task<WorkflowRun> StartAsync(WorkflowRun run, WorkflowDefinition definition, CancellationToken cancellationToken)
    {
        var created = Prepare(run, definition);
        // Root steps this host has slots for start right after the commit, without a claim round
        // trip; only when the commit is this save's own (not a caller's transaction still open).
        var here = db.Database.CurrentTransaction is null ? ClaimHere(run, created, clock.GetUtcNow()) : [];
        try
        {
            await db.SaveChangesAsync(cancellationToken);
        }
        catch
        {
            dispatcher.Release(here.Count);
            throw;
        }

        foreach (var (attempt, step) in here)
        {
            dispatcher.Start(attempt, run, step, []);
        }

        await AfterCommitAsync(run, created, cancellationToken);
        return run;
    }

    /// <summary>
    /// Adds a new run with its steps to the context (not saved) and returns the attempts to schedule
    /// after the commit (<see cref="AfterCommitAsync"/>), for callers that start runs inside their own transaction.
    /// </summary>
    public List<StepAttempt> Prepare(WorkflowRun run, WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(definition);
        var now = run.CreatedAt;
        var steps = definition.Steps.Select((s, i) => new RunStep
        {
            Id = Guid.CreateVersion7(),
            RunId = run.Id,
            StepId = s.Id,
            Ordinal = i,
            Type = s.Type,
            State = StepStates.Pending,
        }).ToList();
        if (definition.Timeout is { } timeout)
        {
            run.DeadlineAt = now + timeout;
        }

        db.Runs.Add(run);
        db.AddIntegrationEvent(new RunStarted(Guid.CreateVersion7(), now, run.ProjectId, run.Id, run.WorkflowName, run.Version), clock);
        var created = new List<StepAttempt>();
        if (definition.MaxActiveRuns is not null)
        {
            // Admitted after the commit under the workflow's lock, which counts the active runs.
            run.State = RunStates.Waiting;
        }
        else
        {
            _untracked = true;
            try
            {
                Advance(run, steps, definition, now, created);
            }
            finally
            {
                _untracked = false;
            }
        }

        // A wide run has thousands of steps: written in bulk after the run's row, not tracked one by one.
        db.AddBulk(steps);
        db.AddBulk(created);
        return created;
    }

    /// <summary>While set, new attempts are left untracked for the caller to write in bulk.</summary>
    private bool _untracked;

    public async Task AfterCommitAsync(WorkflowRun run, IReadOnlyCollection<StepAttempt> created, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(created);
        await ScheduleAsync(created.Where(a => a.State == AttemptStates.Queued).ToList(), cancellationToken, run);
        await ScheduleDeadlineAsync(run, cancellationToken);
        if (run.State == RunStates.Waiting)
        {
            await AdmitAsync(run.WorkflowId, cancellationToken);
        }
    }

    /// <summary>
    /// Admits waiting runs of a workflow, oldest first, while fewer than its maxActiveRuns (of the
    /// latest version) are queued or running. The count is read under the workflow row's lock, and
    /// derived from the runs themselves: nothing to leak when a host dies (a later finish or the sweep admits).
    /// </summary>
    public async Task AdmitAsync(Guid workflowId, CancellationToken cancellationToken)
    {
        var admitted = new List<(WorkflowRun Run, List<StepAttempt> Attempts)>();
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.ChangeTracker.Clear();
            await db.Workflows.Where(w => w.Id == workflowId).ExecuteUpdateAsync(u => u.SetProperty(w => w.UpdatedAt, w => w.UpdatedAt), cancellationToken);
            var latest = await db.Workflows.AsNoTracking().Where(w => w.Id == workflowId)
                .Join(db.WorkflowVersions, w => new { w.Id, V = w.LatestVersion }, v => new { Id = v.WorkflowId, V = v.Version }, (w, v) => v.Id)
                .SingleAsync(cancellationToken);
            var limit = (await definitions.GetAsync(db, latest, cancellationToken)).MaxActiveRuns ?? int.MaxValue;
            var active = await db.Runs.CountAsync(r => r.WorkflowId == workflowId && (r.State == RunStates.Queued || r.State == RunStates.Running), cancellationToken);
            var free = limit - active;
            if (free <= 0)
            {
                return;
            }

            var waiting = await db.Runs.AsNoTracking().Where(r => r.WorkflowId == workflowId && r.State == RunStates.Waiting)
                .OrderBy(r => r.CreatedAt).ThenBy(r => r.Id).Select(r => r.Id).Take(free).ToListAsync(cancellationToken);
            foreach (var runId in waiting)
            {
                await LockAsync(runId, cancellationToken);
                var run = await db.Runs.SingleAsync(r => r.Id == runId, cancellationToken);
                if (run.State != RunStates.Waiting)
                {
                    continue;
                }

                run.State = RunStates.Queued;
                var steps = await db.RunSteps.Where(s => s.RunId == runId).ToListAsync(cancellationToken);
                var created = new List<StepAttempt>();
                Advance(run, steps, await definitions.GetAsync(db, run.WorkflowVersionId, cancellationToken), clock.GetUtcNow(), created);
                admitted.Add((run, created));
            }

            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        foreach (var (run, attempts) in admitted)
        {
            await ScheduleAsync(attempts, cancellationToken);
        }
    }

    /// <summary>
    /// Claims queued attempts for this host in one statement: only one claimer's conditional update
    /// matches an attempt, so it runs once even when two hosts (or a sweep and a trigger) dispatch it.
    /// Each claimed attempt gets this host's lease (<paramref name="owner"/> is unique per claim, so
    /// an attempt this host already runs is not claimed twice). Attempts in a pool need a free slot
    /// first; without one they are queued again a little later. <paramref name="known"/> gives the
    /// step and run of attempts this host created itself (as they were at that commit); the others
    /// are read. Returns the claimed attempts.
    /// </summary>
    public async Task<List<(StepAttempt Attempt, WorkflowRun Run, RunStep Step)>> ClaimAsync(IReadOnlyCollection<Guid> attemptIds, string owner, Func<Guid, (RunStep Step, WorkflowRun Run)?>? known, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(attemptIds);
        var ids = attemptIds.ToList();
        var now = clock.GetUtcNow();
        var lease = now + options.LeaseDuration;
        var postgres = !db.Database.IsSqlite();
        // One commit for the claim and its display updates, not one per statement (pooled attempts
        // take their slots in transactions of their own, between two).
        var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        try
        {
            List<StepAttempt> claimed;
            if (postgres)
            {
                // A claim need not outlive a database crash: lost, its attempts are queued again and
                // run (at least once, as when the claiming host dies). Its commit does not wait for
                // the WAL flush; the finish that follows does, and flushes the claim with it.
                await db.Database.ExecuteSqlRawAsync("SET LOCAL synchronous_commit TO OFF", cancellationToken);
                claimed = await db.StepAttempts.FromSqlRaw(ClaimSql, ids.ToArray(), now, owner, lease).AsNoTracking().ToListAsync(cancellationToken);
            }
            else
            {
                await db.StepAttempts
                    .Where(a => ids.Contains(a.Id) && a.State == AttemptStates.Queued && a.Pool == null)
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(a => a.State, AttemptStates.Running)
                        .SetProperty(a => a.StartedAt, now)
                        .SetProperty(a => a.LeaseOwner, owner)
                        .SetProperty(a => a.LeaseExpiresAt, lease), cancellationToken);
                claimed = await db.StepAttempts.AsNoTracking().Where(a => ids.Contains(a.Id) && a.LeaseOwner == owner).ToListAsync(cancellationToken);
            }

            if (claimed.Count < ids.Count)
            {
                await transaction.CommitAsync(cancellationToken);
                await transaction.DisposeAsync();
                var pooled = await db.StepAttempts.AsNoTracking()
                    .Where(a => ids.Contains(a.Id) && a.State == AttemptStates.Queued && a.Pool != null)
                    .Select(a => new { a.Id, a.Pool }).ToListAsync(cancellationToken);
                var won = new List<Guid>();
                foreach (var attempt in pooled)
                {
                    if (await ClaimPooledAsync(attempt.Id, attempt.Pool!, owner, cancellationToken))
                    {
                        won.Add(attempt.Id);
                    }
                }

                if (claimed.Count == 0 && won.Count == 0)
                {
                    return [];
                }

                transaction = await db.Database.BeginTransactionAsync(cancellationToken);
                if (won.Count > 0)
                {
                    claimed.AddRange(await db.StepAttempts.AsNoTracking().Where(a => won.Contains(a.Id) && a.LeaseOwner == owner).ToListAsync(cancellationToken));
                }
            }

            // What the steps need: the rows this host created the attempts with, or one read for the others.
            var found = new Dictionary<Guid, (RunStep Step, WorkflowRun Run)>(claimed.Count);
            foreach (var attempt in claimed)
            {
                if (known?.Invoke(attempt.Id) is { } held && held.Step.Id == attempt.RunStepId)
                {
                    found[attempt.Id] = held;
                }
            }

            var unknown = claimed.Where(a => !found.ContainsKey(a.Id)).Select(a => a.RunStepId).ToList();
            if (unknown.Count > 0)
            {
                var rows = await (from s in db.RunSteps.AsNoTrackingWithIdentityResolution()
                                  join r in db.Runs on s.RunId equals r.Id
                                  where unknown.Contains(s.Id)
                                  select new { s, r }).ToListAsync(cancellationToken);
                var byStep = rows.ToDictionary(row => row.s.Id);
                foreach (var attempt in claimed.Where(a => !found.ContainsKey(a.Id)))
                {
                    var row = byStep[attempt.RunStepId];
                    found[attempt.Id] = (row.s, row.r);
                }
            }

            // The step and the run show "running" from their first attempt on. These only move forward
            // from ready/queued, so they need no lock; they are for display, the attempt is the truth.
            // On PostgreSQL the claim statement did it for the unpooled ones.
            var display = claimed.Where(a => !postgres || a.Pool is not null).ToList();
            if (display.Count > 0)
            {
                var stepIds = display.Select(a => a.RunStepId).ToList();
                await db.RunSteps
                    .Where(s => stepIds.Contains(s.Id) && (s.State == StepStates.Ready || s.StartedAt == null))
                    .ExecuteUpdateAsync(s => s
                        .SetProperty(x => x.State, x => x.State == StepStates.Ready ? StepStates.Running : x.State)
                        .SetProperty(x => x.StartedAt, x => x.StartedAt ?? now), cancellationToken);
                var runIds = display.Select(a => a.RunId).Distinct().ToList();
                await db.Runs
                    .Where(r => runIds.Contains(r.Id) && r.State == RunStates.Queued)
                    .ExecuteUpdateAsync(s => s.SetProperty(r => r.State, RunStates.Running).SetProperty(r => r.StartedAt, now), cancellationToken);
            }

            await transaction.CommitAsync(cancellationToken);
            return claimed.Select(a => (a, found[a.Id].Run, found[a.Id].Step)).ToList();
        }
        finally
        {
            await transaction.DisposeAsync();
        }
    }

    /// <summary>
    /// PostgreSQL's claim in one statement: the attempts' conditional update (returning the claimed
    /// rows), and for display their steps (ready → running) and runs (queued → running), which only
    /// move forward, so need no lock.
    /// </summary>
    private const string ClaimSql = $$"""
        WITH claimed AS (
            UPDATE {{WorkflowsDbContext.SchemaName}}.step_attempts
            SET state = '{{AttemptStates.Running}}', started_at = {1}, lease_owner = {2}, lease_expires_at = {3}
            WHERE id = ANY({0}) AND state = '{{AttemptStates.Queued}}' AND pool IS NULL
            RETURNING *
        ), shown AS (
            UPDATE {{WorkflowsDbContext.SchemaName}}.run_steps AS s
            SET state = CASE WHEN s.state = '{{StepStates.Ready}}' THEN '{{StepStates.Running}}' ELSE s.state END, started_at = COALESCE(s.started_at, {1})
            FROM claimed AS c
            WHERE s.id = c.run_step_id AND (s.state = '{{StepStates.Ready}}' OR s.started_at IS NULL)
            RETURNING s.id
        ), started AS (
            UPDATE {{WorkflowsDbContext.SchemaName}}.runs AS r
            SET state = '{{RunStates.Running}}', started_at = {1}
            WHERE r.id IN (SELECT run_id FROM claimed) AND r.state = '{{RunStates.Queued}}'
            RETURNING r.id
        )
        SELECT * FROM claimed
        """;

    private async Task<bool> ClaimPooledAsync(Guid attemptId, string pool, string owner, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var size = pools.Sizes.TryGetValue(pool, out var slots) ? slots : 1;
        if (!await Concurrency.Pools.TryAcquireAsync(db, pool, size, attemptId, now, cancellationToken))
        {
            var later = now + Concurrency.Pools.RetryAfter;
            await db.StepAttempts.Where(a => a.Id == attemptId && a.State == AttemptStates.Queued)
                .ExecuteUpdateAsync(s => s.SetProperty(a => a.ScheduledFor, later), cancellationToken);
            await ScheduleAsync([new StepAttempt { Id = attemptId, State = AttemptStates.Queued, ScheduledFor = later }], cancellationToken);
            return false;
        }

        // Started when the slot was had: waiting for the pool's lock is not running.
        now = clock.GetUtcNow();
        var lease = now + options.LeaseDuration;
        var claimed = await db.StepAttempts
            .Where(a => a.Id == attemptId && a.State == AttemptStates.Queued)
            .ExecuteUpdateAsync(s => s
                .SetProperty(a => a.State, AttemptStates.Running)
                .SetProperty(a => a.StartedAt, now)
                .SetProperty(a => a.LeaseOwner, owner)
                .SetProperty(a => a.LeaseExpiresAt, lease), cancellationToken);
        if (claimed == 0)
        {
            await Concurrency.Pools.ReleaseAsync(db, attemptId, cancellationToken);
            return false;
        }

        return true;
    }

    /// <summary>
    /// Records a running attempt whose host stopped renewing its lease as lost and runs the step
    /// again (see <see cref="FinishManyAsync"/>); false if it was
    /// renewed or finished meanwhile.
    /// </summary>
    public async Task<bool> RecoverAsync(Guid attemptId, CancellationToken cancellationToken)
    {
        var runId = await db.StepAttempts.AsNoTracking().Where(a => a.Id == attemptId).Select(a => a.RunId).SingleAsync(cancellationToken);
        var results = await FinishManyAsync(runId, [(attemptId, new AttemptOutcome.Failed("The host running this attempt stopped.", Retryable: true, HostLost: true))], leaseExpiredBefore: clock.GetUtcNow(), cancellationToken);
        return results[0];
    }

    /// <summary>
    /// Records how attempts of one run ended, in one transaction under the run's lock, and moves the
    /// run on once for all of them: a fan-out's finishes cost one commit per batch, not one each.
    /// With <paramref name="leaseExpiredBefore"/>, an attempt counts only if its lease expired before then.
    /// Returns, per outcome, whether its attempt was still running (false: already finished elsewhere).
    /// <paramref name="stepIds"/>: the definition id of each outcome's step (same order), when the
    /// caller knows them. Successes of steps nothing depends on are then recorded set-based, without
    /// loading them (<see cref="FinishLeavesAsync"/>), and for the others the steps, their dependents
    /// and the dependents' other dependencies are read with the attempts in one query.
    /// </summary>
    public async Task<bool[]> FinishManyAsync(Guid runId, IReadOnlyList<(Guid AttemptId, AttemptOutcome Outcome)> outcomes, DateTimeOffset? leaseExpiredBefore, CancellationToken cancellationToken, IReadOnlyList<string>? stepIds = null)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        if (stepIds is not null && stepIds.Count != outcomes.Count)
        {
            throw new ArgumentException("One step id per outcome.", nameof(stepIds));
        }

        var results = new bool[outcomes.Count];
        var created = new List<StepAttempt>();
        List<(StepAttempt Attempt, RunStep Step)> here = [];
        List<RunStep> known = [];
        WorkflowRun? runSnapshot = null;
        var admitNext = false;
        // Pool slots this finish gives back, one entry per slot.
        var freed = new List<string>();
        var workflowId = Guid.Empty;
        _completionChecked = false;
        _durations.Clear();
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.ChangeTracker.Clear();
            var run = await LockRunAsync(runId, cancellationToken);
            workflowId = run.WorkflowId;
            var definition = await definitions.GetAsync(db, run.WorkflowVersionId, cancellationToken);
            var now = clock.GetUtcNow();
            var wasOpen = !RunStates.IsTerminal(run.State);
            var leaves = stepIds is not null && leaseExpiredBefore is null && wasOpen
                ? await FinishLeavesAsync(definition, outcomes, stepIds, results, now, cancellationToken)
                : 0;
            // What the set-based path did not record goes through the entities.
            var open = Enumerable.Range(0, outcomes.Count).Where(i => !results[i]).ToList();
            var attemptIds = open.Select(i => outcomes[i].AttemptId).Distinct().ToList();
            var neighbours = stepIds is null || open.Count == 0 ? null : Neighbourhood(definition, open.Select(i => stepIds[i]).Distinct(StringComparer.Ordinal).ToList());
            Dictionary<Guid, StepAttempt> attempts;
            Dictionary<Guid, RunStep> stepRows;
            if (neighbours is not null)
            {
                var rows = await (from st in db.RunSteps
                                  where st.RunId == runId && neighbours.Contains(st.StepId)
                                  join a in db.StepAttempts.Where(a => attemptIds.Contains(a.Id)) on st.Id equals a.RunStepId into mine
                                  from a in mine.DefaultIfEmpty()
                                  select new { Attempt = a, Step = st }).ToListAsync(cancellationToken);
                attempts = rows.Where(r => r.Attempt is not null).ToDictionary(r => r.Attempt!.Id, r => r.Attempt!);
                stepRows = rows.Select(r => r.Step).DistinctBy(st => st.Id).ToDictionary(st => st.Id);
            }
            else
            {
                attempts = [];
                stepRows = [];
            }

            if (attempts.Count < attemptIds.Count && open.Count > 0)
            {
                // No names given, or some did not match their attempts: read the rest by attempt.
                var missing = attemptIds.Where(id => !attempts.ContainsKey(id)).ToList();
                var rows = await (from a in db.StepAttempts
                                  join st in db.RunSteps on a.RunStepId equals st.Id
                                  where missing.Contains(a.Id)
                                  select new { Attempt = a, Step = st }).ToListAsync(cancellationToken);
                foreach (var row in rows)
                {
                    attempts[row.Attempt.Id] = row.Attempt;
                    stepRows.TryAdd(row.Step.Id, row.Step);
                }

                neighbours = null;
            }

            var finished = new List<RunStep>();
            // Attempts whose approval was already requested (a signal wait that is run again asks once).
            var requested = open.Any(i => outcomes[i].Outcome is AttemptOutcome.Suspended { ResumeAt: null })
                ? (await db.Approvals.AsNoTracking().Where(a => attemptIds.Contains(a.AttemptId)).Select(a => a.AttemptId).ToListAsync(cancellationToken)).ToHashSet()
                : [];
            // Approval attempts that ended without a decision (their host died while they waited):
            // their requests are closed, so no one decides on an attempt that is gone.
            var ended = new List<Guid>();
            foreach (var i in open)
            {
                var (attemptId, outcome) = outcomes[i];
                ArgumentNullException.ThrowIfNull(outcome);
                if (!attempts.TryGetValue(attemptId, out var attempt) || attempt.State != AttemptStates.Running
                    || (leaseExpiredBefore is { } expired && (attempt.LeaseOwner is null || attempt.LeaseExpiresAt >= expired)))
                {
                    continue;
                }

                if (attempt.Pool is not null)
                {
                    // A waiting or finished attempt holds no slot; a resumed one takes one again.
                    await Concurrency.Pools.ReleaseAsync(db, attempt.Id, cancellationToken);
                    freed.Add(attempt.Pool);
                }

                var step = stepRows[attempt.RunStepId];
                if (step.Type == ApprovalStep.TypeName && outcome is not AttemptOutcome.Suspended)
                {
                    ended.Add(attempt.Id);
                }

                if (Record(run, step, attempt, outcome, definition, now, created, requested))
                {
                    finished.Add(step);
                }

                requested.Add(attempt.Id);
                results[i] = true;
            }

            if (ended.Count > 0)
            {
                await db.Approvals.Where(a => ended.Contains(a.AttemptId) && a.State == ApprovalStates.Waiting)
                    .ExecuteUpdateAsync(u => u.SetProperty(a => a.State, ApprovalStates.Cancelled).SetProperty(a => a.DecidedAt, now), cancellationToken);
            }

            // Approvals requested above are seen by the next check of the same batch.
            if (finished.Count > 0 && !RunStates.IsTerminal(run.State))
            {
                var loaded = neighbours is null ? null : stepRows.Values.ToDictionary(st => st.StepId, StringComparer.Ordinal);
                if (!await TryAdvanceLocallyAsync(run, finished, definition, now, created, loaded, cancellationToken))
                {
                    // Tracked rows (the finished steps) keep their changes when queried again.
                    var steps = await db.RunSteps.Where(s => s.RunId == run.Id).ToListAsync(cancellationToken);
                    Advance(run, steps, definition, now, created);
                    _completionChecked = true;
                }
            }

            // The leaves were written before any step was read in this transaction, so a count or
            // a full Advance above already saw them; a new attempt means an open step. Otherwise
            // (nothing else finished, or only suspended), the leaves may have been the last.
            if (leaves > 0 && !RunStates.IsTerminal(run.State) && !_completionChecked && created.Count == 0)
            {
                await CompleteIfDoneAsync(run, now, cancellationToken);
            }

            // The run ended in this transaction: the next waiting run of its workflow may start.
            admitNext = wasOpen && RunStates.IsTerminal(run.State) && definition.MaxActiveRuns is not null;

            here = ClaimHere(run, created, now);
            // The steps this transaction read or wrote, as committed: a chain's next step finds its
            // input (the step that just finished) among them and need not read it again.
            known = here.Count == 0 ? [] : db.ChangeTracker.Entries<RunStep>().Select(e => e.Entity).ToList();
            runSnapshot = run;
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                await transaction.CommitAsync(cancellationToken);
            }
            catch
            {
                dispatcher.Release(here.Count);
                throw;
            }
        }

        // Counted once committed: a batch whose transaction fails is recorded again by its retry.
        foreach (var (type, outcome, duration) in _durations)
        {
            WorkflowMetrics.StepFinished(type, outcome, duration);
        }

        foreach (var (attempt, step) in here)
        {
            dispatcher.Start(attempt, runSnapshot!, step, known);
        }

        await ScheduleAsync(created.Where(a => a.State == AttemptStates.Queued).ToList(), cancellationToken, runSnapshot);
        if (freed.Count > 0)
        {
            await OfferFreedSlotsAsync(freed, cancellationToken);
        }

        if (admitNext)
        {
            await AdmitAsync(workflowId, cancellationToken);
        }

        return results;
    }

    /// <summary>
    /// Offers slots just given back to the attempts that found their pool full, oldest first, instead
    /// of leaving them to their retry timer (<see cref="Concurrency.Pools.RetryAfter"/>, the safety net
    /// for slots freed by a lapsed lease). This host's dispatcher claims them whichever host queued them.
    /// </summary>
    private async Task OfferFreedSlotsAsync(List<string> freed, CancellationToken cancellationToken)
    {
        var pools = freed.Distinct(StringComparer.Ordinal).ToList();
        var horizon = clock.GetUtcNow() + Concurrency.Pools.RetryAfter;
        var waiting = await db.StepAttempts.AsNoTracking()
            .Where(a => a.State == AttemptStates.Queued && a.ScheduledFor <= horizon && a.Pool != null && pools.Contains(a.Pool))
            .OrderBy(a => a.ScheduledFor).ThenBy(a => a.Id)
            .Select(a => a.Id).Take(freed.Count).ToListAsync(cancellationToken);
        dispatcher.Post(waiting);
    }

    /// <summary>
    /// Applies one attempt's outcome to it and its step (retries become new attempts in
    /// <paramref name="created"/>). False when the outcome came too late to count (see <see cref="Late"/>):
    /// only the attempt was recorded, so there is nothing to move on.
    /// </summary>
    private bool Record(WorkflowRun run, RunStep step, StepAttempt attempt, AttemptOutcome outcome, WorkflowDefinition definition, DateTimeOffset now, List<StepAttempt> created, HashSet<Guid> requested)
    {
        var stepDefinition = StepsById(definition)[step.StepId];
        // Whatever happens next, this host no longer runs the attempt.
        attempt.LeaseOwner = null;
        attempt.LeaseExpiresAt = null;
        var lateness = Late(run, step, attempt);
        NoteDuration(stepDefinition.Type, attempt.StartedAt, Outcome(outcome, late: lateness is not null), now);
        if (lateness is { } late)
        {
            // The run ended, or the step started over, while the attempt ran: its outcome is no
            // longer the step's. Only the attempt is recorded, as ended; the step, its dependents,
            // the run and its events stay as they are.
            attempt.State = AttemptStates.Cancelled;
            attempt.FinishedAt = now;
            attempt.Error = Truncate(outcome switch
            {
                AttemptOutcome.Cancelled cancelled => cancelled.Reason,
                AttemptOutcome.Succeeded => $"{late.Why}This attempt succeeded after {late.What}; its outcome was discarded.",
                AttemptOutcome.Failed failed => $"{late.Why}This attempt failed after {late.What} ({failed.Error}); its outcome was discarded.",
                _ => $"{late.Why}This attempt was stopped after {late.What}.",
            });
            if (RunStates.IsTerminal(run.State) && !StepStates.IsTerminal(step.State))
            {
                // Left open by a stop recorded before stops ended every step (older rows).
                step.State = StepStates.Cancelled;
                step.FinishedAt = now;
            }

            return false;
        }

        switch (outcome)
        {
            case AttemptOutcome.Succeeded succeeded:
                attempt.State = AttemptStates.Succeeded;
                attempt.FinishedAt = now;
                step.State = StepStates.Succeeded;
                step.Outputs = succeeded.Outputs.ToJsonString();
                step.FinishedAt = now;
                break;
            case AttemptOutcome.Suspended suspended when suspended.ResumeAt is { } resumeAt && !RunStates.IsTerminal(run.State):
                // The same attempt runs again later; no thread waits meanwhile.
                attempt.State = AttemptStates.Queued;
                attempt.ScheduledFor = resumeAt;
                attempt.SuspendState = suspended.State?.ToJsonString();
                created.Add(attempt);
                break;
            case AttemptOutcome.Suspended suspended when !RunStates.IsTerminal(run.State):
                // Waits for a signal (an approval); the attempt stays open and holds no thread.
                attempt.SuspendState = suspended.State?.ToJsonString() ?? "{}";
                attempt.Signal = null;
                if (step.Type == ApprovalStep.TypeName && !requested.Contains(attempt.Id))
                {
                    RequestApproval(run, step, attempt, suspended.State as JsonObject, now);
                }

                break;
            case AttemptOutcome.Failed failed when !RunStates.IsTerminal(run.State):
                attempt.State = AttemptStates.Failed;
                attempt.FinishedAt = now;
                attempt.Error = Truncate(failed.Error);
                var retries = stepDefinition.Retries;
                // A dead host's attempt is re-run even without a retry policy (at least once, the
                // attempt number shows it), but only a few times, so a step that kills its host stops.
                var allowed = (retries?.Max ?? 0) + (failed.HostLost ? MaxLostAttempts : 0);
                if (failed.Retryable && attempt.Number <= allowed)
                {
                    var delay = retries is null || failed.HostLost ? TimeSpan.Zero : Backoff.Delay(retries, attempt.Number);
                    var next = NewAttempt(step, attempt.Number + 1, now + delay, stepDefinition.Pool);
                    if (failed.HostLost)
                    {
                        // The step goes on from where it was: a wait keeps its end, an approval its decision.
                        next.SuspendState = attempt.SuspendState;
                        next.Signal = attempt.Signal;
                    }

                    step.State = StepStates.Ready;
                    step.Error = attempt.Error;
                    created.Add(next);
                }
                else
                {
                    FailStep(run, step, attempt.Number, attempt.Error, now);
                }

                break;
            default:
                // Cancelled, or anything that ends after the run was cancelled.
                attempt.State = AttemptStates.Cancelled;
                attempt.FinishedAt = now;
                attempt.Error = outcome is AttemptOutcome.Cancelled c ? c.Reason : StopReason(run);
                step.State = StepStates.Cancelled;
                step.FinishedAt = now;
                break;
        }

        return true;
    }

    /// <summary>The step-duration metric's outcome as the engine counts it: a late outcome is recorded on its attempt as cancelled, whatever the step returned.</summary>
    private static string Outcome(AttemptOutcome outcome, bool late) => (late, outcome) switch
    {
        (true, _) or (_, AttemptOutcome.Cancelled) => "cancelled",
        (_, AttemptOutcome.Succeeded) => "succeeded",
        (_, AttemptOutcome.Suspended) => "suspended",
        _ => "failed",
    };

    /// <summary>Kept for the step-duration metric until the finish commits.</summary>
    private void NoteDuration(string type, DateTimeOffset? startedAt, string outcome, DateTimeOffset now)
    {
        if (startedAt is { } started)
        {
            _durations.Add((type, outcome, now - started));
        }
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<WorkflowDefinition, Dictionary<string, List<StepDefinition>>> DependentsCache = [];
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<WorkflowDefinition, Lazy<Dictionary<string, StepDefinition>>> StepsCache = [];

    /// <summary>Each step's direct dependents, computed once per cached definition (definitions are immutable).</summary>
    private static Dictionary<string, List<StepDefinition>> Dependents(WorkflowDefinition definition) =>
        DependentsCache.GetValue(definition, d => d.Steps
            .SelectMany(s => s.DependsOn.Select(up => (Up: up, Step: s)))
            .GroupBy(p => p.Up, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(p => p.Step).ToList(), StringComparer.Ordinal));

    /// <summary>The definition's steps by id, computed once per cached definition (lazily: a fan-out's attempts ask at once).</summary>
    public static Dictionary<string, StepDefinition> StepsById(WorkflowDefinition definition) =>
        StepsCache.GetValue(definition, d => new(() => d.Steps.ToDictionary(s => s.Id, StringComparer.Ordinal))).Value;

    /// <summary>
    /// The common transitions without loading the whole run, so a transition costs what it touches
    /// rather than the run's size: steps that did not finish change nothing downstream; steps that
    /// succeeded make those of their direct dependents ready whose dependencies all succeeded or were
    /// skipped; when they have no dependents, the run finishes if nothing else is left (counted by one
    /// query per batch). Anything else (failures, cancels, conditions, skips that cascade, joins too
    /// wide to load by name) returns false before changing anything, and the caller runs the full
    /// <see cref="Advance"/> over every step.
    /// </summary>
    private async Task<bool> TryAdvanceLocallyAsync(WorkflowRun run, List<RunStep> finished, WorkflowDefinition definition, DateTimeOffset now, List<StepAttempt> created, Dictionary<string, RunStep>? loaded, CancellationToken cancellationToken)
    {
        // Every pending step already waits on an unfinished dependency (each transition advanced to
        // a fixed point), and an unfinished step cannot release or finish anything.
        var done = finished.Where(s => StepStates.IsTerminal(s.State)).ToList();
        if (done.Count == 0)
        {
            return true;
        }

        if (done.Any(s => s.State != StepStates.Succeeded))
        {
            return false;
        }

        var graph = Dependents(definition);
        var dependents = done.SelectMany(s => graph.TryGetValue(s.StepId, out var found) ? found : []).DistinctBy(d => d.Id).ToList();
        if (dependents.Count == 0)
        {
            await CompleteIfDoneAsync(run, now, cancellationToken);
            return true;
        }

        if (dependents.Any(d => d.When is not null))
        {
            return false;
        }

        var known = done.ToDictionary(s => s.StepId, StringComparer.Ordinal);
        var names = dependents.SelectMany(d => d.DependsOn).Concat(dependents.Select(d => d.Id))
            .Where(n => !known.ContainsKey(n)).Distinct(StringComparer.Ordinal).ToList();
        if (names.Count > MaxLocalNames)
        {
            return false;
        }

        var byId = names.Count == 0 ? []
            : loaded is not null && names.All(loaded.ContainsKey) ? names.ToDictionary(n => n, n => loaded[n], StringComparer.Ordinal)
            : (await db.RunSteps.Where(s => s.RunId == run.Id && names.Contains(s.StepId)).ToListAsync(cancellationToken)).ToDictionary(s => s.StepId, StringComparer.Ordinal);
        foreach (var (id, step) in known)
        {
            byId[id] = step;
        }

        var ready = new List<(RunStep Step, StepDefinition Definition)>();
        foreach (var dependent in dependents)
        {
            var row = byId[dependent.Id];
            if (row.State != StepStates.Pending)
            {
                return false;
            }

            var dependencies = dependent.DependsOn.Select(d => byId[d].State).ToList();
            if (dependencies.Any(d => !StepStates.IsTerminal(d)))
            {
                continue;
            }

            if (dependencies.Any(d => d is not (StepStates.Succeeded or StepStates.Skipped)))
            {
                return false;
            }

            ready.Add((row, dependent));
        }

        foreach (var (row, dependent) in ready)
        {
            row.State = StepStates.Ready;
            created.Add(NewAttempt(row, row.Attempts + 1, now, dependent.Pool));
        }

        return true;
    }

    /// <summary>Set once this finish has checked whether every step of the run is done (one count per batch).</summary>
    private bool _completionChecked;

    /// <summary>This finish's attempt durations, recorded in the step-duration metric once it commits.</summary>
    private readonly List<(string Type, string Outcome, TimeSpan Duration)> _durations = [];

    /// <summary>Leaves finished: the run is over when no other step is open (the batch's changes are flushed first).</summary>
    private async Task CompleteIfDoneAsync(WorkflowRun run, DateTimeOffset now, CancellationToken cancellationToken)
    {
        _completionChecked = true;
        await db.SaveChangesAsync(cancellationToken);
        var unfinished = await db.RunSteps.CountAsync(
            s => s.RunId == run.Id && s.State != StepStates.Succeeded && s.State != StepStates.Failed && s.State != StepStates.Skipped && s.State != StepStates.Cancelled,
            cancellationToken);
        if (unfinished == 0)
        {
            var failed = await db.RunSteps.Where(s => s.RunId == run.Id && s.State == StepStates.Failed).ToListAsync(cancellationToken);
            Complete(run, failed, now);
        }
    }

    /// <summary>
    /// Records, without loading a row, the successes of steps that nothing depends on (a fan-out's
    /// branches, a chain's end): under the run's lock a running attempt cannot change, so one read of
    /// which attempts are still running and unpooled decides, then one update marks those attempts
    /// succeeded and one per distinct output their steps. Returns how many it recorded (their
    /// <paramref name="results"/> become true); what it leaves (failures, pools, approvals, steps with
    /// dependents, attempts no longer running) goes through <see cref="Record"/>.
    /// </summary>
    private async Task<int> FinishLeavesAsync(WorkflowDefinition definition, IReadOnlyList<(Guid AttemptId, AttemptOutcome Outcome)> outcomes, IReadOnlyList<string> stepIds, bool[] results, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var graph = Dependents(definition);
        var steps = StepsById(definition);
        var outputs = new Dictionary<Guid, (int Index, string Outputs)>();
        for (var i = 0; i < outcomes.Count; i++)
        {
            if (outcomes[i].Outcome is AttemptOutcome.Succeeded succeeded && steps.TryGetValue(stepIds[i], out var step)
                && step.Pool is null && step.Type != ApprovalStep.TypeName && !graph.ContainsKey(step.Id))
            {
                outputs.TryAdd(outcomes[i].AttemptId, (i, succeeded.Outputs.ToJsonString()));
            }
        }

        if (outputs.Count == 0)
        {
            return 0;
        }

        var candidates = outputs.Keys.ToList();
        // Only the step's current attempt while the step is open (see Late): an attempt that ran on
        // after its step was started over goes through Record, which keeps its outcome off the step.
        var running = await (from a in db.StepAttempts.AsNoTracking()
                             where candidates.Contains(a.Id) && a.State == AttemptStates.Running && a.Pool == null
                             join st in db.RunSteps on a.RunStepId equals st.Id
                             where st.Attempts == a.Number && (st.State == StepStates.Running || st.State == StepStates.Ready)
                             select new { a.Id, a.RunStepId, a.StartedAt }).ToListAsync(cancellationToken);
        if (running.Count == 0)
        {
            return 0;
        }

        var won = running.Select(a => a.Id).ToList();
        await db.StepAttempts.Where(a => won.Contains(a.Id)).ExecuteUpdateAsync(u => u
            .SetProperty(a => a.State, AttemptStates.Succeeded)
            .SetProperty(a => a.FinishedAt, now)
            .SetProperty(a => a.LeaseOwner, (string?)null)
            .SetProperty(a => a.LeaseExpiresAt, (DateTimeOffset?)null), cancellationToken);
        foreach (var group in running.GroupBy(a => outputs[a.Id].Outputs, StringComparer.Ordinal))
        {
            var stepRows = group.Select(a => a.RunStepId).ToList();
            var value = group.Key;
            await db.RunSteps.Where(s => stepRows.Contains(s.Id)).ExecuteUpdateAsync(u => u
                .SetProperty(s => s.State, StepStates.Succeeded)
                .SetProperty(s => s.Outputs, value)
                .SetProperty(s => s.FinishedAt, now), cancellationToken);
        }

        foreach (var attempt in running)
        {
            var index = outputs[attempt.Id].Index;
            results[index] = true;
            NoteDuration(steps[stepIds[index]].Type, attempt.StartedAt, "succeeded", now);
        }

        return running.Count;
    }

    /// <summary>
    /// The steps a finish of <paramref name="names"/> reads: themselves, their direct dependents and
    /// the dependents' other dependencies; null when that is too many to read by name.
    /// </summary>
    private static List<string>? Neighbourhood(WorkflowDefinition definition, IReadOnlyCollection<string> names)
    {
        var graph = Dependents(definition);
        var all = new HashSet<string>(names, StringComparer.Ordinal);
        foreach (var name in names)
        {
            foreach (var dependent in graph.TryGetValue(name, out var found) ? found : [])
            {
                all.Add(dependent.Id);
                all.UnionWith(dependent.DependsOn);
            }

            if (all.Count > MaxLocalNames)
            {
                return null;
            }
        }

        return [.. all];
    }

    /// <summary>Past this many step rows to load by name, loading the whole run is as cheap.</summary>
    private const int MaxLocalNames = 1_000;

    /// <summary>
    /// Cancels a run that has not finished: its pending, ready and queued work is cancelled at once;
    /// running attempts see the run's state and stop (their tokens are cancelled).
    /// </summary>
    public async Task<bool> CancelAsync(Guid runId, CancellationToken cancellationToken)
    {
        var stopped = await StopAsync(runId, timedOut: false, cancellationToken);
        await AdmitAfterStopAsync(runId, stopped, cancellationToken);
        return stopped;
    }

    private async Task AdmitAfterStopAsync(Guid runId, bool stopped, CancellationToken cancellationToken)
    {
        if (!stopped)
        {
            return;
        }

        var run = await db.Runs.AsNoTracking().Where(r => r.Id == runId).Select(r => new { r.WorkflowId, r.WorkflowVersionId }).SingleAsync(cancellationToken);
        if ((await definitions.GetAsync(db, run.WorkflowVersionId, cancellationToken)).MaxActiveRuns is not null)
        {
            await AdmitAsync(run.WorkflowId, cancellationToken);
        }
    }

    /// <summary>Fails a run past its deadline (see <see cref="StopAsync"/>) and admits a waiting run in its place.</summary>
    public async Task<bool> TimeOutAsync(Guid runId, CancellationToken cancellationToken)
    {
        var stopped = await StopAsync(runId, timedOut: true, cancellationToken);
        await AdmitAfterStopAsync(runId, stopped, cancellationToken);
        return stopped;
    }

    /// <summary>
    /// Stops a run: cancelled by a user, or failed because it ran past its deadline (only if the
    /// deadline has passed; a retried run has a new one). Its open work is cancelled as for a cancel.
    /// </summary>
    public async Task<bool> StopAsync(Guid runId, bool timedOut, CancellationToken cancellationToken)
    {
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        db.ChangeTracker.Clear();
        await LockAsync(runId, cancellationToken);
        var run = await db.Runs.SingleAsync(r => r.Id == runId, cancellationToken);
        var now = clock.GetUtcNow();
        if (RunStates.IsTerminal(run.State) || (timedOut && (run.DeadlineAt is not { } deadline || deadline > now)))
        {
            return false;
        }

        run.FinishedAt = now;
        if (timedOut)
        {
            var definition = await definitions.GetAsync(db, run.WorkflowVersionId, cancellationToken);
            run.State = RunStates.Failed;
            run.Error = $"The run timed out after {Durations.Format(definition.Timeout ?? TimeSpan.Zero)}.";
            db.AddIntegrationEvent(new RunFailed(Guid.CreateVersion7(), now, run.ProjectId, run.Id, run.WorkflowName, run.Version, run.Error), clock);
        }
        else
        {
            run.State = RunStates.Cancelled;
            run.Error = "Cancelled.";
            db.AddIntegrationEvent(new RunCancelled(Guid.CreateVersion7(), now, run.ProjectId, run.Id, run.WorkflowName, run.Version), clock);
        }

        WorkflowMetrics.RunFinished(run.State);
        var steps = await db.RunSteps.Where(s => s.RunId == runId).ToListAsync(cancellationToken);
        var open = await db.StepAttempts.Where(a => a.RunId == runId && (a.State == AttemptStates.Queued || a.State == AttemptStates.Running)).ToListAsync(cancellationToken);
        foreach (var attempt in open)
        {
            // A running attempt that waits for a signal has no job to notice the cancel: end it here.
            if (attempt.State == AttemptStates.Queued || attempt.SuspendState is not null)
            {
                attempt.State = AttemptStates.Cancelled;
                attempt.FinishedAt = now;
                attempt.Error = StopReason(run);
            }
        }

        await db.Approvals.Where(a => a.RunId == runId && a.State == ApprovalStates.Waiting)
            .ExecuteUpdateAsync(u => u.SetProperty(a => a.State, ApprovalStates.Cancelled).SetProperty(a => a.DecidedAt, now), cancellationToken);

        // Every open step ends with the run, also those whose attempts are still running: those
        // attempts are stopped (their tokens are cancelled) and whatever they report later is
        // recorded on them alone (see Late), so the run's outcome stands as of now.
        foreach (var step in steps.Where(s => !StepStates.IsTerminal(s.State)))
        {
            step.State = StepStates.Cancelled;
            step.FinishedAt = now;
        }

        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// Delivers a decision to a waiting approval step: records who, when and why, and queues its
    /// attempt again with the decision as its signal. False if the approval is no longer waiting
    /// (decided by someone else, or the run ended).
    /// </summary>
    public async Task<bool> DecideAsync(Guid approvalId, bool approve, Guid? by, string byName, string? comment, CancellationToken cancellationToken)
    {
        var runId = await db.Approvals.AsNoTracking().Where(a => a.Id == approvalId).Select(a => a.RunId).SingleAsync(cancellationToken);
        StepAttempt attempt;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.ChangeTracker.Clear();
            await LockAsync(runId, cancellationToken);
            var approval = await db.Approvals.SingleAsync(a => a.Id == approvalId, cancellationToken);
            attempt = await db.StepAttempts.SingleAsync(a => a.Id == approval.AttemptId, cancellationToken);
            var runState = await db.Runs.Where(r => r.Id == runId).Select(r => r.State).SingleAsync(cancellationToken);
            if (approval.State != ApprovalStates.Waiting || attempt.State != AttemptStates.Running || attempt.SuspendState is null
                || attempt.Signal is not null || RunStates.IsTerminal(runState))
            {
                return false;
            }

            var now = clock.GetUtcNow();
            approval.State = approve ? ApprovalStates.Approved : ApprovalStates.Rejected;
            approval.DecidedAt = now;
            approval.DecidedBy = by;
            approval.DecidedByName = byName;
            approval.Comment = comment;
            attempt.State = AttemptStates.Queued;
            attempt.ScheduledFor = now;
            attempt.Signal = new JsonObject
            {
                ["decision"] = approval.State,
                ["by"] = byName,
                ["at"] = now,
                ["comment"] = comment,
            }.ToJsonString();
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        await ScheduleAsync([attempt], cancellationToken);
        return true;
    }

    /// <summary>
    /// Runs a failed run again from its failed steps: they and the steps they blocked start over as
    /// new attempts; succeeded and skipped steps keep their state and outputs. False unless the run failed.
    /// </summary>
    public async Task<bool> RetryAsync(Guid runId, CancellationToken cancellationToken)
    {
        var created = new List<StepAttempt>();
        WorkflowRun run;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.ChangeTracker.Clear();
            await LockAsync(runId, cancellationToken);
            run = await db.Runs.SingleAsync(r => r.Id == runId, cancellationToken);
            if (run.State != RunStates.Failed)
            {
                return false;
            }

            var steps = await db.RunSteps.Where(s => s.RunId == runId).ToListAsync(cancellationToken);
            foreach (var step in steps.Where(s => s.State is StepStates.Failed or StepStates.Cancelled))
            {
                step.State = StepStates.Pending;
                step.Error = null;
                step.StartedAt = null;
                step.FinishedAt = null;
            }

            await ReopenAsync(run, steps, created, cancellationToken);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        await AfterCommitAsync(run, created, cancellationToken);
        return true;
    }

    /// <summary>
    /// Marks a failed step succeeded (with the given outputs for its dependents) or skipped, by hand;
    /// who, when and why are kept on the step. The steps it blocked become pending again and the run
    /// goes on (a failed run is reopened). Null when done, otherwise why not (a conflict).
    /// </summary>
    public async Task<string?> MarkStepAsync(Guid runId, string stepId, string state, JsonObject? outputs, string by, string? comment, CancellationToken cancellationToken)
    {
        var created = new List<StepAttempt>();
        WorkflowRun run;
        await using (var transaction = await db.Database.BeginTransactionAsync(cancellationToken))
        {
            db.ChangeTracker.Clear();
            await LockAsync(runId, cancellationToken);
            run = await db.Runs.SingleAsync(r => r.Id == runId, cancellationToken);
            var steps = await db.RunSteps.Where(s => s.RunId == runId).ToListAsync(cancellationToken);
            var step = steps.Single(s => s.StepId == stepId);
            if (step.State != StepStates.Failed)
            {
                return $"Only a failed step can be marked; '{stepId}' is {step.State}.";
            }

            if (run.State == RunStates.Cancelled)
            {
                return "The run was cancelled.";
            }

            var now = clock.GetUtcNow();
            step.State = state;
            step.Outputs = state == StepStates.Succeeded ? (outputs ?? []).ToJsonString() : null;
            step.Error = Truncate($"Marked {state} by {by} (was: {step.Error})");
            step.FinishedAt = now;
            step.OverriddenBy = by;
            step.OverriddenAt = now;
            step.OverrideComment = comment;
            foreach (var blocked in steps.Where(s => s.State == StepStates.Cancelled))
            {
                // Only steps blocked upstream are cancelled in a run that was not cancelled.
                blocked.State = StepStates.Pending;
                blocked.Error = null;
                blocked.FinishedAt = null;
            }

            await ReopenAsync(run, steps, created, cancellationToken);
            await db.SaveChangesAsync(cancellationToken);
            await transaction.CommitAsync(cancellationToken);
        }

        await AfterCommitAsync(run, created, cancellationToken);
        return null;
    }

    private async Task ReopenAsync(WorkflowRun run, List<RunStep> steps, List<StepAttempt> created, CancellationToken cancellationToken)
    {
        var definition = await definitions.GetAsync(db, run.WorkflowVersionId, cancellationToken);
        var now = clock.GetUtcNow();
        if (RunStates.IsTerminal(run.State))
        {
            run.State = RunStates.Running;
            run.FinishedAt = null;
            run.Error = null;
            run.DeadlineAt = definition.Timeout is { } timeout ? now + timeout : null;
            if (definition.MaxActiveRuns is not null)
            {
                // A reopened run counts against the limit like a new one: it waits for its turn.
                run.State = RunStates.Waiting;
                return;
            }
        }

        Advance(run, steps, definition, now, created);
    }

    private void RequestApproval(WorkflowRun run, RunStep step, StepAttempt attempt, JsonObject? state, DateTimeOffset now)
    {
        static List<string> Names(JsonNode? node) =>
            node is JsonArray list ? list.Select(n => n is JsonValue v && v.TryGetValue<string>(out var text) ? text : null).OfType<string>().ToList() : [];

        var roles = Names(state?["roles"]);
        if (roles.Count == 0)
        {
            roles.Add("Approver");
        }

        var approvers = Names(state?["approvers"]);
        var message = state?["message"] is JsonValue m && m.TryGetValue<string>(out var text) ? text : "Approve?";
        var approval = new ApprovalRequest
        {
            Id = Guid.CreateVersion7(),
            ProjectId = run.ProjectId,
            RunId = run.Id,
            RunStepId = step.Id,
            AttemptId = attempt.Id,
            StepId = step.StepId,
            Message = message.Length > 2000 ? message[..2000] : message,
            Roles = new JsonArray(roles.Select(r => (JsonNode?)JsonValue.Create(r)).ToArray()).ToJsonString(),
            Approvers = new JsonArray(approvers.Select(r => (JsonNode?)JsonValue.Create(r)).ToArray()).ToJsonString(),
            State = ApprovalStates.Waiting,
            RequestedAt = now,
        };
        db.Approvals.Add(approval);
        db.AddIntegrationEvent(new ApprovalRequested(Guid.CreateVersion7(), now, run.ProjectId, run.Id, run.WorkflowName, step.StepId, approval.Id, approval.Message, roles, approvers), clock);
    }

    private static string StopReason(WorkflowRun run) =>
        run.State == RunStates.Failed && run.Error is { } error ? error : "The run was cancelled.";

    /// <summary>
    /// Why an attempt's outcome no longer counts, or null if it does: its run has ended (whatever it
    /// reports then, the run's end stands, as in Airflow, Prefect or Temporal), or its step was
    /// started over (a retry of the run), so another attempt is the step's now.
    /// </summary>
    private static (string Why, string What)? Late(WorkflowRun run, RunStep step, StepAttempt attempt)
    {
        if (RunStates.IsTerminal(run.State))
        {
            return ((run.State == RunStates.Succeeded ? "The run had already succeeded." : StopReason(run)) + " ", "the run had ended");
        }

        return attempt.Number != step.Attempts || step.State is not (StepStates.Ready or StepStates.Running)
            ? ("", $"the step was started again (attempt {step.Attempts})")
            : null;
    }

    /// <summary>A one-shot trigger at the run's deadline; the job fails the run only if it is still active and past its (current) deadline.</summary>
    private async Task ScheduleDeadlineAsync(WorkflowRun run, CancellationToken cancellationToken)
    {
        if (run.DeadlineAt is not { } deadline || RunStates.IsTerminal(run.State))
        {
            return;
        }

        var scheduler = await schedulers.GetScheduler(cancellationToken);
        var trigger = TriggerBuilder.Create()
            .WithIdentity($"{run.Id:N}-{Guid.NewGuid():N}", RunDeadlineJob.Key.Group)
            .ForJob(RunDeadlineJob.Key)
            .UsingJobData(RunDeadlineJob.RunKey, run.Id.ToString())
            .StartAt(deadline)
            .Build();
        await scheduler.ScheduleJob(trigger, new ScheduleJobOptions(), cancellationToken);
    }

    /// <summary>
    /// Locks the run and loads it (tracked), in one round trip on PostgreSQL (<c>SELECT … FOR UPDATE</c>;
    /// the revision goes up with the transaction's other changes). On SQLite the transaction already
    /// holds the database's write lock (Microsoft.Data.Sqlite begins IMMEDIATE).
    /// </summary>
    private async Task<WorkflowRun> LockRunAsync(Guid runId, CancellationToken cancellationToken)
    {
        if (db.Database.IsSqlite())
        {
            await LockAsync(runId, cancellationToken);
            return await db.Runs.SingleAsync(r => r.Id == runId, cancellationToken);
        }

        // The row lock serializes the run's transactions until commit; no write is needed to take it.
        return (await db.Runs.FromSqlRaw(LockRunSql, runId).ToListAsync(cancellationToken)).Single();
    }

    private const string LockRunSql = "SELECT * FROM " + WorkflowsDbContext.SchemaName + ".runs WHERE id = {0} FOR UPDATE";

    /// <summary>
    /// The first write of a run's transaction: PostgreSQL holds the row lock until commit, SQLite
    /// the database write lock, so transitions of one run are serialized and each sees the last.
    /// </summary>
    private Task LockAsync(Guid runId, CancellationToken cancellationToken) =>
        db.Runs.Where(r => r.Id == runId).ExecuteUpdateAsync(s => s.SetProperty(r => r.Revision, r => r.Revision + 1), cancellationToken);

    /// <summary>
    /// Moves pending steps whose dependencies all finished: cancelled after a failed or cancelled
    /// dependency, skipped when every dependency was skipped or the <c>when</c> condition is false,
    /// otherwise ready with a first attempt. Repeats until nothing changes (skips cascade), then
    /// finishes the run when every step has.
    /// </summary>
    private void Advance(WorkflowRun run, List<RunStep> steps, WorkflowDefinition definition, DateTimeOffset now, List<StepAttempt> created)
    {
        var byId = steps.ToDictionary(s => s.StepId, StringComparer.Ordinal);
        for (var changed = true; changed;)
        {
            changed = false;
            foreach (var stepDefinition in definition.Steps)
            {
                var step = byId[stepDefinition.Id];
                if (step.State != StepStates.Pending)
                {
                    continue;
                }

                var dependencies = stepDefinition.DependsOn.Select(d => byId[d]).ToList();
                if (dependencies.Any(d => !StepStates.IsTerminal(d.State)))
                {
                    continue;
                }

                changed = true;
                if (dependencies.FirstOrDefault(d => d.State is StepStates.Failed or StepStates.Cancelled) is { } blocker)
                {
                    step.State = StepStates.Cancelled;
                    step.Error = $"Not run: the upstream step '{blocker.StepId}' {blocker.State}.";
                    step.FinishedAt = now;
                }
                else if (dependencies.Count > 0 && dependencies.All(d => d.State == StepStates.Skipped))
                {
                    step.State = StepStates.Skipped;
                    step.Error = "Skipped: every upstream step was skipped.";
                    step.FinishedAt = now;
                }
                else if (stepDefinition.When is { } when && !Holds(run, steps, step, when, now, out var skip))
                {
                    if (skip)
                    {
                        step.State = StepStates.Skipped;
                        step.Error = $"Skipped: the condition '{when}' is false.";
                        step.FinishedAt = now;
                    }
                }
                else
                {
                    step.State = StepStates.Ready;
                    // Numbers go on after a retry of the run or a step marked by hand.
                    created.Add(NewAttempt(step, step.Attempts + 1, now, stepDefinition.Pool));
                }
            }
        }

        if (steps.All(s => StepStates.IsTerminal(s.State)))
        {
            Complete(run, steps, now);
        }
    }

    /// <summary>Evaluates a step's condition; a condition that cannot be evaluated fails the step.</summary>
    private bool Holds(WorkflowRun run, List<RunStep> steps, RunStep step, string when, DateTimeOffset now, out bool skip)
    {
        skip = false;
        try
        {
            if (!WhenExpression.TryParse(when, out var expression, out var error))
            {
                throw new InvalidOperationException(error);
            }

            var scope = Scope(run, steps);
            if (expression!.Evaluate(scope.Lookup))
            {
                return true;
            }

            skip = true;
            return false;
        }
        catch (InvalidOperationException ex)
        {
            FailStep(run, step, 0, $"The condition '{when}' could not be evaluated: {ex.Message}", now);
            return false;
        }
    }

    public static TemplateScope Scope(WorkflowRun run, IEnumerable<RunStep> steps)
    {
        ArgumentNullException.ThrowIfNull(run);
        var outputs = steps.Where(s => s.State == StepStates.Succeeded && s.Outputs is not null)
            .ToDictionary(s => s.StepId, s => JsonNode.Parse(s.Outputs!) as JsonObject ?? [], StringComparer.Ordinal);
        return new TemplateScope(run.Id, run.WorkflowName, run.Version, JsonNode.Parse(run.Parameters) as JsonObject ?? [], outputs)
        {
            ScheduledAt = run.ScheduledAt ?? run.CreatedAt,
        };
    }

    private void FailStep(WorkflowRun run, RunStep step, int attemptNumber, string? error, DateTimeOffset now)
    {
        step.State = StepStates.Failed;
        step.Error = Truncate(error);
        step.FinishedAt = now;
        db.AddIntegrationEvent(new StepFailed(Guid.CreateVersion7(), now, run.ProjectId, run.Id, step.StepId, attemptNumber, step.Error ?? "failed"), clock);
    }

    private void Complete(WorkflowRun run, List<RunStep> steps, DateTimeOffset now)
    {
        run.FinishedAt = now;
        run.StartedAt ??= now;
        var failed = steps.Where(s => s.State == StepStates.Failed).Select(s => s.StepId).ToList();
        if (failed.Count > 0)
        {
            run.State = RunStates.Failed;
            WorkflowMetrics.RunFinished(run.State);
            run.Error = Truncate($"Failed steps: {string.Join(", ", failed)}.");
            db.AddIntegrationEvent(new RunFailed(Guid.CreateVersion7(), now, run.ProjectId, run.Id, run.WorkflowName, run.Version, run.Error), clock);
        }
        else
        {
            run.State = RunStates.Succeeded;
            WorkflowMetrics.RunFinished(run.State);
            db.AddIntegrationEvent(new RunSucceeded(Guid.CreateVersion7(), now, run.ProjectId, run.Id, run.WorkflowName, run.Version), clock);
        }
    }

    private StepAttempt NewAttempt(RunStep step, int number, DateTimeOffset at, string? pool)
    {
        step.Attempts = number;
        var attempt = new StepAttempt
        {
            Id = Guid.CreateVersion7(),
            RunId = step.RunId,
            RunStepId = step.Id,
            Number = number,
            State = AttemptStates.Queued,
            ScheduledFor = at,
            Pool = pool,
        };
        if (!_untracked)
        {
            db.StepAttempts.Add(attempt);
        }

        _stepsOfNew[attempt.Id] = step;
        return attempt;
    }

    /// <summary>The steps of the attempts created in this engine's current transaction.</summary>
    private readonly Dictionary<Guid, RunStep> _stepsOfNew = [];

    /// <summary>
    /// Marks attempts created in this transaction that are due now as claimed by this host, as many
    /// as it has free slots for: they start right after the commit, with no claim round trip (a
    /// chain goes on where its last step ran). Returns them with their steps, and the slots taken.
    /// </summary>
    private List<(StepAttempt Attempt, RunStep Step)> ClaimHere(WorkflowRun run, List<StepAttempt> created, DateTimeOffset now)
    {
        var due = created.Where(a => a.State == AttemptStates.Queued && a.ScheduledFor <= now && a.Pool is null && _stepsOfNew.ContainsKey(a.Id)).ToList();
        var slots = due.Count == 0 ? 0 : dispatcher.TryReserve(due.Count);
        if (slots == 0)
        {
            return [];
        }

        var owner = dispatcher.NewOwner();
        var here = new List<(StepAttempt, RunStep)>(slots);
        foreach (var attempt in due.Take(slots))
        {
            var step = _stepsOfNew[attempt.Id];
            attempt.State = AttemptStates.Running;
            attempt.StartedAt = now;
            attempt.LeaseOwner = owner;
            attempt.LeaseExpiresAt = now + options.LeaseDuration;
            step.State = StepStates.Running;
            step.StartedAt ??= now;
            here.Add((attempt, step));
        }

        if (run.State == RunStates.Queued)
        {
            run.State = RunStates.Running;
            run.StartedAt ??= now;
        }

        return here;
    }

    /// <summary>
    /// Hands committed attempts to be run: those due now to this host's dispatcher (no round trip
    /// through a scheduler store), those due later (a backoff, a wait, a full pool) to Quartz, one
    /// one-shot trigger each on the shared durable job, carrying only the attempt id.
    /// </summary>
    public async Task ScheduleAsync(IReadOnlyCollection<StepAttempt> attempts, CancellationToken cancellationToken, WorkflowRun? run = null)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        if (attempts.Count == 0)
        {
            return;
        }

        var now = clock.GetUtcNow();
        var due = attempts.Where(a => a.ScheduledFor <= now).ToList();
        if (run is not null && due.All(a => _stepsOfNew.ContainsKey(a.Id)))
        {
            // Created in this engine's transaction: their steps and run go along, so the claim need not read them.
            dispatcher.Post(run, due.Select(a => (a, _stepsOfNew[a.Id])));
        }
        else
        {
            dispatcher.Post(due.Select(a => a.Id));
        }

        var later = attempts.Where(a => a.ScheduledFor > now).ToList();
        if (later.Count == 0)
        {
            return;
        }

        var scheduler = await schedulers.GetScheduler(cancellationToken);
        // A unique trigger name: a resumed attempt is scheduled again while its last trigger may still exist.
        var triggers = later.Select(attempt => TriggerBuilder.Create()
            .WithIdentity($"{attempt.Id:N}-{Guid.NewGuid():N}", AttemptGroup)
            .ForJob(StepAttemptJob.Key)
            .UsingJobData(AttemptKey, attempt.Id.ToString())
            .StartAt(attempt.ScheduledFor)
            .Build()).ToList();
        if (triggers.Count == 1)
        {
            await scheduler.ScheduleJob(triggers[0], new ScheduleJobOptions(), cancellationToken);
            return;
        }

        // Many at once: one store operation per batch instead of a transaction per trigger. Storing a
        // batch with its job re-stores the (unchanged) durable job, hence Replace.
        var job = await scheduler.GetJobDetail(StepAttemptJob.Key, cancellationToken)
            ?? throw new InvalidOperationException("The step attempt job is not registered.");
        foreach (var batch in triggers.Chunk(ScheduleBatch))
        {
            await scheduler.ScheduleJob(job, batch, new ScheduleJobOptions { Replace = true }, cancellationToken);
        }
    }

    private const int ScheduleBatch = 500;

    private static string? Truncate(string? text) => text is { Length: > 4000 } ? text[..3999] + "…" : text;
}

/// <summary>Exponential backoff with "equal jitter": half the delay fixed, half random, so delays still grow.</summary>
public static class Backoff
{
    public static TimeSpan Delay(Definitions.RetryPolicy policy, int failedAttempt)
    {
        ArgumentNullException.ThrowIfNull(policy);
        var exponent = Math.Min(failedAttempt - 1, 30);
        var full = Math.Min(policy.Backoff.TotalMilliseconds * Math.Pow(2, exponent), policy.MaxDelay.TotalMilliseconds);
        return TimeSpan.FromMilliseconds((full / 2) + (Random.Shared.NextDouble() * full / 2));
    }
}
