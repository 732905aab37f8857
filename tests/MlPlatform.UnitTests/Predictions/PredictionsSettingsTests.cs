using Microsoft.Extensions.Configuration;
using MlPlatform.Predictions;

namespace MlPlatform.UnitTests.Predictions;

public sealed class PredictionsSettingsTests
{
    [Theory]
    [InlineData(null)]
    [InlineData("0")]
    public void Given_no_intra_op_thread_count_Then_sessions_are_given_the_processor_count(string? configured)
    {
        var settings = Read(("Predictions:Sessions:IntraOpThreads", configured));

        settings.IntraOpThreads.ShouldBe(Environment.ProcessorCount);
    }

    [Fact]
    public void Given_an_intra_op_thread_count_Then_it_is_used()
    {
        Read(("Predictions:Sessions:IntraOpThreads", "3")).IntraOpThreads.ShouldBe(3);
    }

    private static PredictionsSettings Read(params (string Key, string? Value)[] values) =>
        PredictionsSettings.Read(new ConfigurationBuilder()
            .AddInMemoryCollection(values.Where(v => v.Value is not null).Select(v => new KeyValuePair<string, string?>(v.Key, v.Value)))
            .Build());
}
