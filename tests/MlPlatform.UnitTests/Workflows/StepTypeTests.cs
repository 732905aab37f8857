using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.StepTypes;

namespace MlPlatform.UnitTests.Workflows;

public sealed class StepTypeTests
{
    private sealed class ListLogger : IStepLogger
    {
        public List<string> Lines { get; } = [];

        public void Write(StepLogLevel level, string message) => Lines.Add($"{level}: {message}");
    }

    private sealed class FixedClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static StepContext Context(JsonObject parameters, TimeProvider clock, JsonNode? state = null, JsonObject? signal = null) => new()
    {
        RunId = Guid.NewGuid(),
        ProjectId = Guid.NewGuid(),
        StepId = "s",
        Attempt = 1,
        Parameters = parameters,
        UpstreamOutputs = new Dictionary<string, JsonObject>(),
        Log = new ListLogger(),
        Artifacts = null!,
        Clock = clock,
        State = state,
        Signal = signal,
    };

    [Fact]
    public async Task Given_noop_with_outputs_Then_it_succeeds_returning_them()
    {
        var result = await new NoopStep().ExecuteAsync(Context(new JsonObject { ["outputs"] = new JsonObject { ["uri"] = "s3://b/k" } }, TimeProvider.System), default);

        result.Outcome.ShouldBe(StepOutcome.Succeeded);
        result.Outputs["uri"]!.GetValue<string>().ShouldBe("s3://b/k");
    }

    [Fact]
    public async Task Given_wait_Then_it_suspends_until_the_deadline_and_then_succeeds()
    {
        var clock = new FixedClock(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var step = new WaitStep();
        var parameters = new JsonObject { ["duration"] = "5m" };

        var first = await step.ExecuteAsync(Context(parameters, clock), default);
        clock.Now = clock.Now.AddMinutes(2);
        var early = await step.ExecuteAsync(Context(parameters, clock, first.State), default);
        clock.Now = clock.Now.AddMinutes(3);
        var done = await step.ExecuteAsync(Context(parameters, clock, early.State), default);

        first.Outcome.ShouldBe(StepOutcome.Suspended);
        first.ResumeAt.ShouldBe(new DateTimeOffset(2026, 1, 1, 0, 5, 0, TimeSpan.Zero));
        early.Outcome.ShouldBe(StepOutcome.Suspended);
        early.ResumeAt.ShouldBe(first.ResumeAt);
        done.Outcome.ShouldBe(StepOutcome.Succeeded);
    }

    [Fact]
    public async Task Given_approval_Then_it_waits_for_a_signal_and_approval_or_rejection_decides()
    {
        var step = new ApprovalStep();
        var parameters = new JsonObject { ["message"] = "Deploy?" };

        var waiting = await step.ExecuteAsync(Context(parameters, TimeProvider.System), default);
        var approved = await step.ExecuteAsync(
            Context(parameters, TimeProvider.System, waiting.State, new JsonObject { ["decision"] = "approved", ["by"] = "ann", ["comment"] = "go" }), default);
        var rejection = await Should.ThrowAsync<StepFailedException>(() => step.ExecuteAsync(
            Context(parameters, TimeProvider.System, waiting.State, new JsonObject { ["decision"] = "rejected", ["by"] = "bob" }), default));

        waiting.Outcome.ShouldBe(StepOutcome.Suspended);
        waiting.ResumeAt.ShouldBeNull();
        approved.Outputs["approvedBy"]!.GetValue<string>().ShouldBe("ann");
        rejection.Retryable.ShouldBeFalse();
    }

    [Fact]
    public void Given_step_types_registered_through_the_contract_Then_the_registry_resolves_them_by_name()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new HttpStepOptions([]));
        services.AddSingleton<IHttpClientFactory>(new NoHttp());
        services.AddStepType<NoopStep>().AddStepType<NoopStep>().AddStepType<HttpStep>();
        using var provider = services.BuildServiceProvider();

        var registry = new StepTypeRegistry(provider.GetServices<IStepType>());

        registry.All.Select(t => t.Name).ShouldBe(["http", "noop"]);
        registry.Find("noop").ShouldBeOfType<NoopStep>();
        registry.Find("model.train").ShouldBeNull();
    }

    private sealed class Named(string name) : StepType
    {
        public override string Name => name;

        public override string Description => "test";

        public override IReadOnlyList<StepParameterSpec> Parameters => [];

        public override Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken) => Task.FromResult(StepResult.Succeeded());
    }

    [Theory]
    [InlineData("Model.Train")]
    [InlineData("model..train")]
    [InlineData("1model")]
    [InlineData("")]
    public void Given_step_type_with_an_invalid_name_Then_the_registry_refuses_it(string name)
    {
        Should.Throw<InvalidOperationException>(() => new StepTypeRegistry([new Named(name)])).Message.ShouldContain("invalid name");
    }

    [Fact]
    public void Given_two_step_types_with_one_name_Then_the_registry_refuses_them()
    {
        Should.Throw<InvalidOperationException>(() => new StepTypeRegistry([new Named("model.train"), new Named("model.train")]))
            .Message.ShouldContain("Two step types are named 'model.train'");
    }

    [Theory]
    [InlineData("api.example.com, *.corp.test ,localhost:8080", 3)]
    [InlineData("", 0)]
    public void Given_allowed_hosts_setting_Then_it_reads_a_comma_separated_list(string value, int count)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [HttpStepOptions.Setting] = value }).Build();

        HttpStepOptions.Read(configuration).AllowedHosts.Count.ShouldBe(count);
    }

    [Fact]
    public void Given_allowed_hosts_entry_that_is_not_a_host_Then_start_up_is_refused()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [HttpStepOptions.Setting] = "https://x.test/path" }).Build();

        Should.Throw<InvalidConfigurationException>(() => HttpStepOptions.Read(configuration)).Setting.ShouldBe(HttpStepOptions.Setting);
    }

    [Theory]
    [InlineData("90s", 90_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("250ms", 250)]
    [InlineData("2d", 172_800_000)]
    [InlineData("1m30s500ms", 90_500)]
    [InlineData("00:05:00", 300_000)]
    [InlineData("0s", 0)]
    public void Given_duration_text_Then_it_parses(string text, long milliseconds)
    {
        Durations.TryParse(text, out var duration, out _).ShouldBeTrue();
        duration.TotalMilliseconds.ShouldBe(milliseconds);
        Durations.Parse(Durations.Format(duration)).ShouldBe(duration);
    }

    [Theory]
    [InlineData("5")]
    [InlineData("5 m")]
    [InlineData("1.5h")]
    [InlineData("30m1h")]
    [InlineData("-5s")]
    [InlineData("366d")]
    [InlineData("PT5M")]
    public void Given_text_that_is_not_a_duration_Then_it_is_refused_with_a_reason(string text)
    {
        Durations.TryParse(text, out _, out var error).ShouldBeFalse();
        error.ShouldNotBeNullOrEmpty();
    }
}
