using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Runs;

public static class StepLogs
{
    /// <summary>Lines kept per attempt; later lines are dropped after one notice, so a chatty step cannot fill the database.</summary>
    public const int MaxLinesPerAttempt = 10_000;

    public const int MaxLineLength = 4_000;

    /// <summary>How long a line may wait in memory before it is stored (and seen by followers).</summary>
    public static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(200);

    public const int FlushBatch = 200;

    public static string LevelName(StepLogLevel level) => level switch
    {
        StepLogLevel.Debug => "debug",
        StepLogLevel.Warning => "warning",
        StepLogLevel.Error => "error",
        _ => "info",
    };
}

/// <summary>
/// An attempt's log: lines are buffered and stored in batches (every <see cref="StepLogs.FlushInterval"/>,
/// or sooner when <see cref="StepLogs.FlushBatch"/> wait), each with its sequence number in the attempt,
/// continuing after a resume. A step that writes nothing costs no query. Also mirrored to the host log.
/// </summary>
public sealed class StoredStepLogger(IServiceScopeFactory scopes, ILogger hostLogger, TimeProvider clock, Guid runId, Guid attemptId, string stepId, int attempt)
    : IStepLogger, IAsyncDisposable
{
    private readonly Lock _lock = new();
    private readonly SemaphoreSlim _flush = new(1, 1);
    private readonly CancellationTokenSource _stop = new();
    private List<StepLogLine> _pending = [];
    private int _accepted;
    private bool _truncated;
    private int? _nextSequence;
    private Task? _loop;

    public void Write(StepLogLevel level, string message)
    {
        message ??= string.Empty;
        var logLevel = level switch
        {
            StepLogLevel.Debug => LogLevel.Debug,
            StepLogLevel.Warning => LogLevel.Warning,
            StepLogLevel.Error => LogLevel.Error,
            _ => LogLevel.Information,
        };
#pragma warning disable CA1848, CA2254 // The message is the step's own text.
        hostLogger.Log(logLevel, "Run {RunId} step {StepId} attempt {Attempt}: {Message}", runId, stepId, attempt, message);
#pragma warning restore CA1848, CA2254
        lock (_lock)
        {
            if (_accepted >= StepLogs.MaxLinesPerAttempt)
            {
                if (!_truncated)
                {
                    _truncated = true;
                    _pending.Add(Line("warning", $"The log reached {StepLogs.MaxLinesPerAttempt} lines; later lines are not stored."));
                }

                return;
            }

            _accepted++;
            _pending.Add(Line(StepLogs.LevelName(level), message.Length > StepLogs.MaxLineLength ? message[..(StepLogs.MaxLineLength - 1)] + "…" : message));
            _loop ??= Task.Run(LoopAsync);
        }
    }

    private StepLogLine Line(string level, string message) => new()
    {
        AttemptId = attemptId,
        RunId = runId,
        At = clock.GetUtcNow(),
        Level = level,
        Message = message,
    };

    private async Task LoopAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                await Task.Delay(StepLogs.FlushInterval, _stop.Token);
                await FlushAsync(CancellationToken.None);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed: the final flush follows.
        }
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        await _flush.WaitAsync(cancellationToken);
        try
        {
            while (true)
            {
                List<StepLogLine> batch;
                lock (_lock)
                {
                    if (_pending.Count == 0)
                    {
                        return;
                    }

                    batch = _pending.Count <= StepLogs.FlushBatch ? _pending : _pending[..StepLogs.FlushBatch];
                    _pending = _pending.Count <= StepLogs.FlushBatch ? [] : _pending[StepLogs.FlushBatch..];
                }

                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
                // A resumed attempt goes on after the lines of its earlier runs.
                _nextSequence ??= (await db.StepLogs.Where(l => l.AttemptId == attemptId).MaxAsync(l => (int?)l.Sequence, cancellationToken) ?? 0) + 1;
                foreach (var line in batch)
                {
                    line.Sequence = _nextSequence.Value;
                    _nextSequence++;
                }

                db.StepLogs.AddRange(batch);
                await db.SaveChangesAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is DbUpdateException or InvalidOperationException)
        {
            // A log must never fail the step; the host log has every line anyway.
#pragma warning disable CA1848 // Rare.
            hostLogger.LogWarning(ex, "Could not store log lines of attempt {AttemptId}", attemptId);
#pragma warning restore CA1848
            _nextSequence = null;
        }
        finally
        {
            _flush.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            await _loop;
        }

        await FlushAsync(CancellationToken.None);
        _stop.Dispose();
        _flush.Dispose();
    }
}

public sealed record LogLineDto(int Sequence, DateTimeOffset At, string Level, string Message);

/// <summary><see cref="Next"/>: pass as <c>after</c> for the following page; <see cref="Finished"/>: the attempt ended, so no more lines will come.</summary>
public sealed record LogPageDto(IReadOnlyList<LogLineDto> Items, int Next, string AttemptState, bool Finished);

/// <summary>The attempt a log request is about, after authorization: another project's run is unknown (404).</summary>
public sealed record FindAttempt(ClaimsPrincipal Caller, string Project, Guid RunId, string StepId, int Attempt) : IQuery<Guid>;

public sealed class FindAttemptHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<FindAttempt, Guid>
{
    public async ValueTask<Guid> Handle(FindAttempt query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var id = await (from r in db.Runs
                        join s in db.RunSteps on r.Id equals s.RunId
                        join a in db.StepAttempts on s.Id equals a.RunStepId
                        where r.Id == query.RunId && r.ProjectId == access.ProjectId && s.StepId == query.StepId && a.Number == query.Attempt
                        select (Guid?)a.Id).SingleOrDefaultAsync(cancellationToken);
        return id ?? throw new NotFoundException("Step attempt", $"{query.RunId}/{query.StepId}/{query.Attempt}");
    }
}

/// <summary>A page of an attempt's log: lines after sequence <c>after</c>, oldest first.</summary>
public sealed record GetStepLog(ClaimsPrincipal Caller, string Project, Guid RunId, string StepId, int Attempt, int After, int Limit) : IQuery<LogPageDto>;

public sealed class GetStepLogValidator : AbstractValidator<GetStepLog>
{
    public GetStepLogValidator()
    {
        RuleFor(q => q.After).GreaterThanOrEqualTo(0);
        RuleFor(q => q.Limit).InclusiveBetween(1, 1000);
        RuleFor(q => q.Attempt).GreaterThanOrEqualTo(1);
    }
}

public sealed class GetStepLogHandler(WorkflowsDbContext db, IMediator mediator) : IQueryHandler<GetStepLog, LogPageDto>
{
    public async ValueTask<LogPageDto> Handle(GetStepLog query, CancellationToken cancellationToken)
    {
        var attemptId = await mediator.Send(new FindAttempt(query.Caller, query.Project, query.RunId, query.StepId, query.Attempt), cancellationToken);
        return await StepLogReader.PageAsync(db, attemptId, query.After, query.Limit, cancellationToken);
    }
}

public static class StepLogReader
{
    public static async Task<LogPageDto> PageAsync(WorkflowsDbContext db, Guid attemptId, int after, int limit, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        // The state is read first: lines stored before an attempt finishes are all visible once it has.
        var state = await db.StepAttempts.AsNoTracking().Where(a => a.Id == attemptId).Select(a => a.State).SingleAsync(cancellationToken);
        var items = await db.StepLogs.AsNoTracking()
            .Where(l => l.AttemptId == attemptId && l.Sequence > after)
            .OrderBy(l => l.Sequence)
            .Take(limit)
            .Select(l => new LogLineDto(l.Sequence, l.At, l.Level, l.Message))
            .ToListAsync(cancellationToken);
        var finished = state is AttemptStates.Succeeded or AttemptStates.Failed or AttemptStates.Cancelled;
        return new LogPageDto(items, items.Count > 0 ? items[^1].Sequence : after, state, finished && items.Count < limit);
    }

    /// <summary>
    /// Follows an attempt's log: every stored line after <paramref name="after"/>, then new ones as
    /// they are stored, ending with an <c>end</c> event once the attempt has finished and every line was sent.
    /// </summary>
    public static async IAsyncEnumerable<SseItem<object>> FollowAsync(IServiceScopeFactory scopes, Guid attemptId, int after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(scopes);
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<WorkflowsDbContext>();
        var idle = TimeSpan.Zero;
        while (!cancellationToken.IsCancellationRequested)
        {
            var page = await PageAsync(db, attemptId, after, 500, cancellationToken);
            foreach (var line in page.Items)
            {
                yield return new SseItem<object>(line, "log") { EventId = line.Sequence.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            }

            after = page.Next;
            if (page.Finished)
            {
                yield return new SseItem<object>(new { state = page.AttemptState }, "end");
                yield break;
            }

            if (page.Items.Count == 0)
            {
                idle += StepLogs.FlushInterval;
                if (idle >= TimeSpan.FromSeconds(15))
                {
                    // Keeps proxies from closing a quiet stream.
                    idle = TimeSpan.Zero;
                    yield return new SseItem<object>(new { state = page.AttemptState }, "heartbeat");
                }

                await Task.Delay(StepLogs.FlushInterval, cancellationToken);
            }
        }
    }
}
