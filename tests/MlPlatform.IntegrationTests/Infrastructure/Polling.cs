using System.Diagnostics;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>For what another host or a background loop does soon but not at once: read until it shows.</summary>
public static class Polling
{
    /// <summary>
    /// Reads every 50 ms until <paramref name="done"/> holds or <paramref name="within"/> (15 s) has
    /// passed; returns the last value read, for the caller to assert on.
    /// </summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> done, TimeSpan? within = null)
    {
        ArgumentNullException.ThrowIfNull(read);
        ArgumentNullException.ThrowIfNull(done);
        var limit = within ?? TimeSpan.FromSeconds(15);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (done(value) || clock.Elapsed >= limit)
            {
                return value;
            }

            await Task.Delay(50);
        }
    }
}
