using MlPlatform.SharedKernel.Messaging;

namespace MlPlatform.UnitTests.Messaging;

public sealed class OutboxBackoffTests
{
    [Theory]
    [InlineData(1, 1, 2)]
    [InlineData(3, 4, 8)]
    [InlineData(6, 32, 64)]
    public void Given_attempts_Then_delay_grows_exponentially_with_jitter(int attempts, double minSeconds, double maxSeconds)
    {
        for (var i = 0; i < 200; i++)
        {
            var delay = OutboxDispatcher.Backoff(attempts, TimeSpan.FromMinutes(5)).TotalSeconds;
            delay.ShouldBeInRange(minSeconds, maxSeconds);
        }
    }

    [Fact]
    public void Given_many_attempts_Then_delay_never_exceeds_the_maximum() =>
        OutboxDispatcher.Backoff(40, TimeSpan.FromSeconds(30)).ShouldBeLessThanOrEqualTo(TimeSpan.FromSeconds(30));

    [Fact]
    public void Given_retries_Then_jitter_spreads_them()
    {
        var delays = Enumerable.Range(0, 50).Select(_ => OutboxDispatcher.Backoff(4, TimeSpan.FromMinutes(5))).Distinct().Count();
        delays.ShouldBeGreaterThan(10);
    }
}
