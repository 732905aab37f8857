using Microsoft.Extensions.Hosting;

namespace MlPlatform.SharedKernel.Hosting;

/// <summary>
/// A background loop that does one round of work every <see cref="Interval"/> on the host's
/// <see cref="TimeProvider"/> (a first round at start when <see cref="RunAtStart"/>). A failed round
/// goes to <see cref="OnFailed"/> and the next one tries again: only the host stopping ends the loop,
/// not a timeout's cancellation inside a round. A zero or negative interval turns the loop off.
/// </summary>
public abstract class PeriodicWork(TimeProvider clock) : BackgroundService
{
    protected TimeProvider Clock { get; } = clock;

    protected abstract TimeSpan Interval { get; }

    protected virtual bool RunAtStart => false;

    protected abstract Task RunOnceAsync(CancellationToken cancellationToken);

    protected abstract void OnFailed(Exception exception);

    protected virtual void OnSucceeded()
    {
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (Interval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(Interval, Clock);
        try
        {
            if (RunAtStart)
            {
                await RoundAsync(stoppingToken);
            }

            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                await RoundAsync(stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The host is stopping.
        }
    }

    private async Task RoundAsync(CancellationToken stoppingToken)
    {
        try
        {
            await RunOnceAsync(stoppingToken);
            OnSucceeded();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
        {
            OnFailed(ex);
        }
    }
}
