using System.Collections.Concurrent;

namespace MlPlatform.Host.Infrastructure;

/// <summary>
/// One logger per category, made once. Serilog's logger factory builds a new logger (with its own
/// enricher and event-id cache) on every <c>CreateLogger</c> call, and some callers ask per request or
/// per step — every authentication handler, which is created per request, does in its constructor —
/// so each authenticated request paid for a logger it used once. Microsoft's own factory caches the
/// same way; what is logged does not change.
/// </summary>
internal sealed class CachingLoggerFactory(ILoggerFactory inner) : ILoggerFactory
{
    private readonly ConcurrentDictionary<string, ILogger> _loggers = new(StringComparer.Ordinal);

    public ILogger CreateLogger(string categoryName) =>
        _loggers.TryGetValue(categoryName, out var logger) ? logger : _loggers.GetOrAdd(categoryName, inner.CreateLogger);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    public void Dispose() => inner.Dispose();

    /// <summary>Wraps the factory the container was given (by <c>AddSerilog</c>), however it was registered.</summary>
    public static void Decorate(IServiceCollection services)
    {
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(ILoggerFactory));
        if (registered is null || registered.Lifetime != ServiceLifetime.Singleton || registered.IsKeyedService)
        {
            return;
        }

        services.Remove(registered);
        services.AddSingleton<ILoggerFactory>(provider => new CachingLoggerFactory(
            registered.ImplementationInstance as ILoggerFactory
            ?? registered.ImplementationFactory?.Invoke(provider) as ILoggerFactory
            ?? (ILoggerFactory)ActivatorUtilities.CreateInstance(provider, registered.ImplementationType!)));
    }
}
