using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Runs;

/// <summary><c>Workflows:Engine</c>: how attempts are run and how a dead host's attempts are found.</summary>
public sealed record EngineOptions(TimeSpan LeaseDuration, TimeSpan RenewEvery, TimeSpan SweepEvery, TimeSpan ShareAfter, int MaxConcurrency)
{
    public const string Section = "Workflows:Engine";

    // 1,024 slots (as Temporal's default of 1,000 activities per worker): a slot is also held by an
    // attempt whose claim is in flight, so with four claims of up to 256 a smaller number starved
    // the claim pipeline (10,000-step fan-out, ready → started p99: 0.89–1.05 s with 256, 0.60 s with 1,024).
    // Heavy steps are bounded by pools, not by this.
    public static EngineOptions Default { get; } = new(TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(1), 1024);

    public static EngineOptions Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var section = configuration.GetSection(Section);
        var options = new EngineOptions(
            section.GetValue(nameof(LeaseDuration), Default.LeaseDuration),
            section.GetValue(nameof(RenewEvery), Default.RenewEvery),
            section.GetValue(nameof(SweepEvery), Default.SweepEvery),
            section.GetValue(nameof(ShareAfter), Default.ShareAfter),
            section.GetValue(nameof(MaxConcurrency), Default.MaxConcurrency));
        if (options.RenewEvery <= TimeSpan.Zero || options.LeaseDuration < options.RenewEvery * 2)
        {
            throw new InvalidConfigurationException($"{Section}:{nameof(LeaseDuration)}", "The lease must last at least two renewals (RenewEvery > 0, LeaseDuration ≥ 2 × RenewEvery).");
        }

        if (options.SweepEvery <= TimeSpan.Zero || options.ShareAfter < TimeSpan.Zero)
        {
            throw new InvalidConfigurationException($"{Section}:{nameof(SweepEvery)}", "SweepEvery must be positive and ShareAfter not negative.");
        }

        if (options.MaxConcurrency is < 1 or > 100_000)
        {
            throw new InvalidConfigurationException($"{Section}:{nameof(MaxConcurrency)}", "Between 1 and 100000 attempts may run at once on a host.");
        }

        return options;
    }
}

/// <summary>
/// Runs this host's step attempts. Attempts due now are handed over in-process right after the
/// transaction that made them commits (a chain continues on the host that finished the step before);
/// Quartz hands over those due later. The dispatcher claims attempts in batches (one conditional
/// update for many, with a lease in this host's name), runs each on the thread pool with its own
/// scope, and records outcomes in batches: one transaction per run for every attempt of it that
/// finished meanwhile. One loop renews the leases of what runs here, stops attempts whose run was
/// cancelled (on any host) and, when this host is idle, takes attempts that have waited longer than
/// <see cref="EngineOptions.ShareAfter"/> (another host's backlog, or attempts whose host died after
/// the commit); another records attempts whose lease expired (their host died) as lost, which runs
/// them again.
/// </summary>
public sealed partial class AttemptDispatcher(IServiceScopeFactory scopes, EngineOptions options, TimeProvider clock, ILogger<AttemptDispatcher> logger) : BackgroundService
{
    /// <summary>How often running attempts check whether their run was cancelled, possibly by another host.</summary>
    private static readonly TimeSpan CancelPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>How often an idle host looks for attempts waiting elsewhere.</summary>
    private static readonly TimeSpan SharePoll = TimeSpan.FromSeconds(1);

    /// <summary>How long a claim may wait for more free slots while attempts are queued (see the dispatch loop).</summary>
    private static readonly TimeSpan GatherSlots = TimeSpan.FromMilliseconds(5);

    /// <summary>How long outcomes may wait to be recorded while attempts wait to be claimed (see the finish loop).</summary>
    private static readonly TimeSpan DeferRecording = TimeSpan.FromMilliseconds(500);

    private const int ClaimBatch = 256;
    private readonly SemaphoreSlim _claimsInFlight = new(ClaimsInFlight, ClaimsInFlight);
    // A claim is now one statement that waits for no WAL flush: its time is mostly the round trip,
    // so four in flight keep the database busy (measured on 2 cores: 2 → 3 → 4 took a 10,000-step
    // fan-out's ready-to-started p99 from 1.3 s to 1.1 s to 0.9–1.1 s).
    private const int ClaimsInFlight = 4;
    private const int FinishBatch = 2_000;
    private const int SweepBatch = 500;

    // Not single-reader: only multi-reader channels can count what waits (the share poll and the finish loop ask).
    private readonly Channel<Guid> _ready = Channel.CreateUnbounded<Guid>();
    private readonly Channel<Completion> _finished = Channel.CreateUnbounded<Completion>();
    private readonly ConcurrentDictionary<Guid, Execution> _running = new();
    // Attempts this host owns: running, or finished and waiting for their outcome to commit. Their leases are renewed.
    private readonly ConcurrentDictionary<Guid, bool> _owned = new();
    private readonly SemaphoreSlim _slots = new(options.MaxConcurrency, options.MaxConcurrency);
    private long _claims;
    private int _executing;

    /// <summary>This process's name in leases: unique per start, so a restarted host does not renew a dead one's leases.</summary>
    public string HostId { get; } = $"{Environment.MachineName}:{Environment.ProcessId}:{Guid.NewGuid():N}";

    /// <summary>Queues committed attempts that are due now; an attempt another host claims first is skipped.</summary>
    public void Post(IEnumerable<Guid> attemptIds)
    {
        ArgumentNullException.ThrowIfNull(attemptIds);
        foreach (var id in attemptIds)
        {
            _ready.Writer.TryWrite(id);
        }
    }

    /// <summary>
    /// Queues attempts this host just committed, with their steps and run as committed, so their
    /// claim need not read them again (a fan-out's thousands of attempts otherwise cost a join per batch).
    /// </summary>
    public void Post(WorkflowRun run, IEnumerable<(StepAttempt Attempt, RunStep Step)> attempts)
    {
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(attempts);
        // Copies: the caller's context may still track the originals.
        var snapshot = run.Copy();
        foreach (var (attempt, step) in attempts)
        {
            _posted[attempt.Id] = (step.Copy(), snapshot);
            _ready.Writer.TryWrite(attempt.Id);
        }
    }

    // Steps and runs of attempts posted with them, until their claim (won or lost) takes them out.
    private readonly ConcurrentDictionary<Guid, (RunStep Step, WorkflowRun Run)> _posted = new();

    /// <summary>
    /// Takes up to <paramref name="wanted"/> free slots for attempts the caller is about to create
    /// already claimed by this host (a chain's next step), so they start right after the commit
    /// without a claim of their own. Give back what is not used with <see cref="Release"/>.
    /// </summary>
    public int TryReserve(int wanted)
    {
        var taken = 0;
        while (taken < wanted && !_stopping.IsCancellationRequested && _slots.Wait(0))
        {
            taken++;
        }

        return taken;
    }

    public void Release(int slots)
    {
        if (slots > 0)
        {
            _slots.Release(slots);
        }
    }

    /// <summary>A lease owner name unique to one claim by this host.</summary>
    public string NewOwner() => $"{HostId}#{Interlocked.Increment(ref _claims)}";

    /// <summary>Starts an attempt committed as running under this host's lease, in a slot taken with <see cref="TryReserve"/>.</summary>
    public void Start(StepAttempt attempt, WorkflowRun run, RunStep step, IReadOnlyCollection<RunStep> known)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        Interlocked.Increment(ref _executing);
        _owned[attempt.Id] = true;
        var stopping = _stopping;
        _ = Task.Run(() => RunAsync(new Claimed(attempt, run, step, known), stopping), CancellationToken.None);
    }

    private CancellationToken _stopping;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _stopping = stoppingToken;
        var finishing = FinishLoopAsync();
        var watching = WatchLoopAsync(stoppingToken);
        var sweeping = SweepLoopAsync(stoppingToken);
        try
        {
            await DispatchLoopAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }

        // Running attempts saw the host's token and end as "host stopped" (they run again elsewhere
        // or after the restart); their outcomes are recorded before the process goes.
        while (Volatile.Read(ref _executing) > 0)
        {
            await Task.Delay(20, CancellationToken.None);
        }

        _finished.Writer.TryComplete();
        await finishing;
        await watching;
        await sweeping;
    }

    private async Task DispatchLoopAsync(CancellationToken stoppingToken)
    {
        var claims = new List<Task>();
        while (await _ready.Reader.WaitToReadAsync(stoppingToken))
        {
            // Claims of disjoint attempts do not conflict: a few run at once, so one waiting on the
            // database does not hold back the next batch of a fan-out.
            await _claimsInFlight.WaitAsync(stoppingToken);
            var batch = new List<Guid>(ClaimBatch);
            // A slot per attempt claimed: at most MaxConcurrency attempts run at once on this host.
            await _slots.WaitAsync(stoppingToken);
            var slots = 1;
            // With a backlog, let a few more slots free up before claiming: one claim for many
            // attempts costs about what a claim for one does, and slots freed one at a time would
            // otherwise turn a fan-out into thousands of single-attempt claims.
            var wanted = Math.Min(_ready.Reader.Count, Math.Min(ClaimBatch, options.MaxConcurrency));
            if (wanted > 1)
            {
                var gathering = Stopwatch.GetTimestamp();
                while (true)
                {
                    // Take what is free now; a timed wait (a timer each) only when nothing is.
                    while (slots < wanted && _slots.Wait(0))
                    {
                        slots++;
                    }

                    var left = GatherSlots - Stopwatch.GetElapsedTime(gathering);
                    if (slots >= wanted || left <= TimeSpan.Zero || !await _slots.WaitAsync(left, stoppingToken))
                    {
                        break;
                    }

                    slots++;
                }
            }

            while (batch.Count < ClaimBatch && _ready.Reader.TryRead(out var id))
            {
                if (batch.Count == slots)
                {
                    if (!_slots.Wait(0))
                    {
                        _ready.Writer.TryWrite(id);
                        break;
                    }

                    slots++;
                }

                batch.Add(id);
            }

            claims.RemoveAll(c => c.IsCompleted);
            claims.Add(ClaimAndStartAsync(batch, slots, stoppingToken));
        }

        await Task.WhenAll(claims);
    }

    /// <summary>Claims a batch in the <paramref name="slots"/> taken for it, starts what it won and gives back the rest.</summary>
    private async Task ClaimAndStartAsync(List<Guid> batch, int slots, CancellationToken stoppingToken)
    {
        List<Claimed> claimed = [];
        try
        {
            claimed = await ClaimAsync(batch, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping: the attempts stay queued for the next start or another host.
        }
        catch (Exception ex)
        {
            // The database is unavailable: the attempts stay queued and the sweep offers them again.
            LogClaimFailed(logger, ex, batch.Count);
            await Task.Delay(TimeSpan.FromSeconds(1), CancellationToken.None);
        }
        finally
        {
            foreach (var id in batch)
            {
                _posted.TryRemove(id, out _);
            }

            if (slots > claimed.Count)
            {
                _slots.Release(slots - claimed.Count);
            }

            _claimsInFlight.Release();
        }

        foreach (var attempt in claimed)
        {
            Interlocked.Increment(ref _executing);
            _owned[attempt.Attempt.Id] = true;
            _ = Task.Run(() => RunAsync(attempt, stoppingToken), CancellationToken.None);
        }
    }

    /// <summary>An attempt this host claimed, with what its step needs; <see cref="Known"/>: step rows already at hand.</summary>
    private sealed record Claimed(StepAttempt Attempt, WorkflowRun Run, RunStep Step, IReadOnlyCollection<RunStep>? Known = null);

    private async Task<List<Claimed>> ClaimAsync(List<Guid> ids, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var engine = scope.ServiceProvider.GetRequiredService<RunEngine>();
        var claimed = await engine.ClaimAsync(ids, NewOwner(), id => _posted.TryGetValue(id, out var held) ? held : null, cancellationToken);
        return claimed.Select(c => new Claimed(c.Attempt, c.Run, c.Step)).ToList();
    }

    private async Task RunAsync(Claimed claimed, CancellationToken hostToken)
    {
        var (attempt, run, step, known) = claimed;
        AttemptOutcome outcome;
        using (var token = CancellationTokenSource.CreateLinkedTokenSource(hostToken))
        {
            var execution = new Execution(run.Id, attempt.Pool is not null, token, clock.GetUtcNow());
            _running[attempt.Id] = execution;
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                outcome = await AttemptExecutor.RunAsync(scope.ServiceProvider, attempt, run, step, execution, known, hostToken);
            }
            catch (Exception ex)
            {
                LogRunFailed(logger, ex, attempt.Id);
                outcome = hostToken.IsCancellationRequested
                    ? new AttemptOutcome.Failed("The host stopped before the step ran.", Retryable: true, HostLost: true)
                    : new AttemptOutcome.Failed("The engine could not run the step: " + ex.Message, Retryable: true);
            }
            finally
            {
                _running.TryRemove(attempt.Id, out _);
                _slots.Release();
            }
        }

        try
        {
            // The outcome is recorded even when the host is stopping: it has already happened.
            var completion = new Completion(run.Id, attempt.Id, step.StepId, outcome);
            _finished.Writer.TryWrite(completion);
            await completion.Recorded.Task;
        }
        finally
        {
            Interlocked.Decrement(ref _executing);
        }
    }

    private sealed record Completion(Guid RunId, Guid AttemptId, string StepId, AttemptOutcome Outcome)
    {
        public TaskCompletionSource Recorded { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Records outcomes as they come, grouped by run: whatever finished while the last batch was being
    /// committed goes into the next one, so a lone chain pays one transaction per step and a wide
    /// fan-out one per batch. Runs are independent, so a few are committed at once.
    /// </summary>
    private async Task FinishLoopAsync()
    {
        var batch = new List<Completion>(FinishBatch);
        while (await _finished.Reader.WaitToReadAsync(CancellationToken.None))
        {
            // Starting what is ready comes before recording what finished: while attempts wait to
            // be claimed (a wide fan-out), outcomes wait a little and are then recorded in fewer,
            // larger transactions. A lone chain has nothing queued and is recorded at once.
            var deferring = Stopwatch.GetTimestamp();
            while (_ready.Reader.Count > 0 && _finished.Reader.Count < FinishBatch && Stopwatch.GetElapsedTime(deferring) < DeferRecording
                   && !_stopping.IsCancellationRequested)
            {
                await Task.Delay(10, CancellationToken.None);
            }

            batch.Clear();
            while (batch.Count < FinishBatch && _finished.Reader.TryRead(out var completion))
            {
                batch.Add(completion);
            }

            await Parallel.ForEachAsync(
                batch.GroupBy(c => c.RunId),
                new ParallelOptions { MaxDegreeOfParallelism = 4 },
                async (group, _) => await RecordAsync(group.Key, group.ToList()));
        }
    }

    private async Task RecordAsync(Guid runId, List<Completion> completions)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var engine = scope.ServiceProvider.GetRequiredService<RunEngine>();
                await engine.FinishManyAsync(runId, completions.Select(c => (c.AttemptId, c.Outcome)).ToList(), leaseExpiredBefore: null, CancellationToken.None,
                    completions.Select(c => c.StepId).ToList());
                break;
            }
            catch (Exception ex) when (attempt < 5)
            {
                LogRecordRetry(logger, ex, completions.Count, runId);
                await Task.Delay(TimeSpan.FromSeconds(attempt), CancellationToken.None);
            }
            catch (Exception ex)
            {
                // Given up: the leases lapse and the sweep runs these attempts again (at least once).
                LogRecordFailed(logger, ex, completions.Count, runId);
                break;
            }
        }

        foreach (var completion in completions)
        {
            _owned.TryRemove(completion.AttemptId, out _);
            completion.Recorded.TrySetResult();
        }
    }

    /// <summary>Stops attempts whose run ended (a cancel or the run's timeout, wherever accepted) and renews this host's leases.</summary>
    private async Task WatchLoopAsync(CancellationToken stoppingToken)
    {
        var renewed = clock.GetUtcNow();
        var shared = renewed;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CancelPoll, stoppingToken);
                var now = clock.GetUtcNow();
                if (now - shared >= SharePoll && _ready.Reader.Count == 0 && _slots.CurrentCount > 0)
                {
                    shared = now;
                    await TakeWaitingAsync(now - options.ShareAfter, _slots.CurrentCount, stoppingToken);
                }

                // Only attempts that run longer than one poll pay for a query.
                var watched = _running.Where(e => now - e.Value.StartedAt >= CancelPoll).ToList();
                if (watched.Count > 0)
                {
                    await StopCancelledAsync(watched, stoppingToken);
                }

                if (now - renewed >= options.RenewEvery && !_owned.IsEmpty)
                {
                    renewed = now;
                    await RenewAsync(now, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogWatchFailed(logger, ex);
            }
        }
    }

    /// <summary>Queues here up to <paramref name="limit"/> attempts that have been due since before <paramref name="dueBefore"/>.</summary>
    private async Task TakeWaitingAsync(DateTimeOffset dueBefore, int limit, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
        Post(await db.StepAttempts.AsNoTracking()
            .Where(a => a.State == AttemptStates.Queued && a.ScheduledFor <= dueBefore)
            .OrderBy(a => a.ScheduledFor).Select(a => a.Id).Take(limit).ToListAsync(cancellationToken));
    }

    private async Task StopCancelledAsync(List<KeyValuePair<Guid, Execution>> watched, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
        foreach (var chunk in watched.Select(e => e.Value.RunId).Distinct().Chunk(500))
        {
            var ended = await db.Runs.AsNoTracking()
                .Where(r => chunk.Contains(r.Id) && (r.State == RunStates.Cancelled || r.State == RunStates.Failed || r.State == RunStates.Succeeded))
                .Select(r => new { r.Id, r.State, r.Error }).ToListAsync(cancellationToken);
            foreach (var run in ended)
            {
                var reason = run.State == RunStates.Failed && run.Error is not null ? run.Error : "The run was cancelled.";
                foreach (var execution in watched.Where(e => e.Value.RunId == run.Id))
                {
                    await execution.Value.StopAsync(reason);
                }
            }
        }
    }

    private async Task RenewAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
        var until = now + options.LeaseDuration;
        var poolUntil = now + Concurrency.Pools.LeaseDuration;
        var pooled = _running.Where(e => e.Value.Pooled).Select(e => e.Key).ToHashSet();
        foreach (var chunk in _owned.Keys.Chunk(500))
        {
            await db.StepAttempts.Where(a => chunk.Contains(a.Id) && a.State == AttemptStates.Running)
                .ExecuteUpdateAsync(u => u.SetProperty(a => a.LeaseExpiresAt, until), cancellationToken);
            var slots = chunk.Where(pooled.Contains).ToList();
            if (slots.Count > 0)
            {
                // The pool slot stays this host's while it runs the attempt; if the host dies, it expires.
                await db.PoolLeases.Where(l => slots.Contains(l.AttemptId)).ExecuteUpdateAsync(u => u.SetProperty(l => l.ExpiresAt, poolUntil), cancellationToken);
            }
        }
    }

    /// <summary>
    /// At start, queues every attempt that is due (this host may be the only one, restarted); then,
    /// every <see cref="EngineOptions.SweepEvery"/> (with jitter, so hosts do not sweep in step),
    /// records attempts whose lease expired as lost, which runs them again as new attempts.
    /// </summary>
    private async Task SweepLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            await TakeWaitingAsync(clock.GetUtcNow(), SweepBatch * 20, stoppingToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogSweepFailed(logger, ex);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var jitter = options.SweepEvery.TotalMilliseconds * (0.8 + (Random.Shared.NextDouble() * 0.4));
                await Task.Delay(TimeSpan.FromMilliseconds(jitter), stoppingToken);
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
                var engine = scope.ServiceProvider.GetRequiredService<RunEngine>();
                var now = clock.GetUtcNow();
                var lost = await db.StepAttempts.AsNoTracking()
                    .Where(a => a.State == AttemptStates.Running && a.LeaseExpiresAt != null && a.LeaseExpiresAt < now)
                    .OrderBy(a => a.LeaseExpiresAt).Select(a => a.Id).Take(SweepBatch).ToListAsync(stoppingToken);
                foreach (var attemptId in lost)
                {
                    if (await engine.RecoverAsync(attemptId, stoppingToken))
                    {
                        LogRecovered(logger, attemptId);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                LogSweepFailed(logger, ex);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Claiming {Count} step attempts failed; the sweep offers them again")]
    private static partial void LogClaimFailed(ILogger logger, Exception exception, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Step attempt {AttemptId} could not be run")]
    private static partial void LogRunFailed(ILogger logger, Exception exception, Guid attemptId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording {Count} outcomes of run {RunId} failed; trying again")]
    private static partial void LogRecordRetry(ILogger logger, Exception exception, int count, Guid runId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Recording {Count} outcomes of run {RunId} failed; their leases will lapse and the steps run again")]
    private static partial void LogRecordFailed(ILogger logger, Exception exception, int count, Guid runId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watching running attempts failed")]
    private static partial void LogWatchFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The attempt sweep failed")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Step attempt {AttemptId} lost its host (lease expired); running the step again")]
    private static partial void LogRecovered(ILogger logger, Guid attemptId);
}

/// <summary>An attempt running on this host: its run, its token, and why it was stopped (if it was).</summary>
public sealed class Execution(Guid runId, bool pooled, CancellationTokenSource token, DateTimeOffset startedAt)
{
    public Guid RunId { get; } = runId;

    public bool Pooled { get; } = pooled;

    public DateTimeOffset StartedAt { get; } = startedAt;

    public CancellationToken Token => token.Token;

    /// <summary>Set when the run ended (cancelled, or failed by its timeout) before the attempt did.</summary>
    public string? StopReason { get; private set; }

    /// <summary>Cancels the attempt after a step timeout.</summary>
    public void CancelAfter(TimeSpan timeout) => token.CancelAfter(timeout);

    public async Task StopAsync(string reason)
    {
        StopReason ??= reason;
        try
        {
            await token.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // The attempt ended meanwhile.
        }
    }
}

