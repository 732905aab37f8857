using System.Collections.Concurrent;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// Slows down and then refuses repeated failed logins, counted per login name, per account and
/// per client address within a sliding window, so neither guessing one account's password (under
/// any of its names) nor spraying many accounts from one address pays off. Counts live in this
/// host's memory.
/// </summary>
public sealed class LoginThrottle(UserManagementOptions options, TimeProvider clock)
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(2);
    private readonly ConcurrentDictionary<string, Failures> _failures = new(StringComparer.Ordinal);

    /// <summary>
    /// How long the caller must wait before trying again, or null when a try is allowed now. Asked
    /// before the account is looked up (name and address) and again once it is known (account).
    /// </summary>
    public TimeSpan? RetryAfter(string login, string? clientAddress, Guid? userId = null)
    {
        var now = clock.GetUtcNow();
        var worst = Keys(login, clientAddress, userId)
            .Select(k => _failures.TryGetValue(k, out var f) ? f.Count(now, options.LoginFailureWindow) : (0, now))
            .MaxBy(f => f.Item1);
        return worst.Item1 >= options.LoginFailuresBeforeLockout
            ? worst.Item2 + options.LoginFailureWindow - now
            : null;
    }

    /// <summary>Records a failure and returns the delay to add to this answer.</summary>
    public TimeSpan Fail(string login, string? clientAddress, Guid? userId = null)
    {
        var now = clock.GetUtcNow();
        var count = 0;
        foreach (var key in Keys(login, clientAddress, userId))
        {
            count = Math.Max(count, _failures.GetOrAdd(key, _ => new Failures()).Add(now, options.LoginFailureWindow));
        }

        Prune(now);
        var over = count - options.LoginFailuresBeforeDelay;
        return over <= 0 ? TimeSpan.Zero : TimeSpan.FromMilliseconds(Math.Min(MaxDelay.TotalMilliseconds, 100 * Math.Pow(2, over - 1)));
    }

    /// <summary>A successful login clears the name's and the account's failures (not the address's).</summary>
    public void Succeed(string login, Guid userId)
    {
        _failures.TryRemove(Key("name", login)!, out _);
        _failures.TryRemove(Key("user", userId.ToString())!, out _);
    }

    /// <summary>
    /// The login as typed, the client address, and the account: one account has several names
    /// (username, e-mail address), and each must not get a budget of guesses of its own.
    /// </summary>
    private static IEnumerable<string> Keys(string login, string? clientAddress, Guid? userId) =>
        new[] { Key("name", login), Key("addr", clientAddress), userId is { } id ? Key("user", id.ToString()) : null }.OfType<string>();

    private static string? Key(string kind, string? value) =>
        string.IsNullOrEmpty(value) ? null : kind + ":" + value.ToUpperInvariant();

    private void Prune(DateTimeOffset now)
    {
        if (_failures.Count < 10_000)
        {
            return;
        }

        foreach (var (key, failures) in _failures)
        {
            if (failures.Count(now, options.LoginFailureWindow).Count == 0)
            {
                _failures.TryRemove(key, out _);
            }
        }
    }

    private sealed class Failures
    {
        private readonly Queue<DateTimeOffset> _times = new();

        public int Add(DateTimeOffset now, TimeSpan window)
        {
            lock (_times)
            {
                Expire(now, window);
                _times.Enqueue(now);
                return _times.Count;
            }
        }

        /// <summary>Failures within the window and the oldest of them.</summary>
        public (int Count, DateTimeOffset Oldest) Count(DateTimeOffset now, TimeSpan window)
        {
            lock (_times)
            {
                Expire(now, window);
                return (_times.Count, _times.Count > 0 ? _times.Peek() : now);
            }
        }

        private void Expire(DateTimeOffset now, TimeSpan window)
        {
            while (_times.Count > 0 && _times.Peek() <= now - window)
            {
                _times.Dequeue();
            }
        }
    }
}
