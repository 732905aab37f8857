using Quartz;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Hands an attempt that was due later (a retry after its backoff, a resumed wait, a step whose pool
/// was full) to this host's <see cref="AttemptDispatcher"/> when its one-shot trigger fires. The
/// trigger carries only the attempt id; the dispatcher's claim decides who runs it, so a duplicate
/// firing does nothing, and a host that dies while running it is found by its lapsed lease.
/// </summary>
public sealed class StepAttemptJob(AttemptDispatcher dispatcher) : IJob
{
    public static readonly JobKey Key = new("step-attempt", "workflows");

    public ValueTask Execute(IJobExecutionContext context, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (Guid.TryParse(context.MergedJobDataMap.GetString(RunEngine.AttemptKey), out var attemptId))
        {
            dispatcher.Post([attemptId]);
        }

        return ValueTask.CompletedTask;
    }
}
