using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using MlPlatform.Host.Infrastructure;

namespace MlPlatform.UnitTests.Host;

public sealed class CachingLoggerFactoryTests
{
    private sealed class CountingFactory : ILoggerFactory
    {
        public int Created { get; private set; }

        public bool Disposed { get; private set; }

        public ILogger CreateLogger(string categoryName)
        {
            Created++;
            return NullLogger.Instance;
        }

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose() => Disposed = true;
    }

    [Fact]
    public void Given_factory_registered_by_a_delegate_Then_the_container_gives_one_logger_per_category_and_disposes_the_inner_factory()
    {
        var inner = new CountingFactory();
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerFactory>(_ => inner);

        CachingLoggerFactory.Decorate(services);
        using (var provider = services.BuildServiceProvider())
        {
            var factory = provider.GetRequiredService<ILoggerFactory>();
            factory.ShouldBeOfType<CachingLoggerFactory>();
            factory.CreateLogger("a").ShouldBeSameAs(factory.CreateLogger("a"));
            factory.CreateLogger("b");
            inner.Created.ShouldBe(2);
        }

        inner.Disposed.ShouldBeTrue();
    }
}
