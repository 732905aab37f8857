using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Runs;

namespace MlPlatform.UnitTests.Workflows.Runs;

public sealed class BackoffTests
{
    [Fact]
    public void Given_backoff_When_retrying_Then_each_delay_is_half_to_all_of_the_doubled_backoff_and_never_shrinks()
    {
        var policy = new RetryPolicy(10, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1));
        for (var i = 0; i < 200; i++)
        {
            var first = Backoff.Delay(policy, 1).TotalMilliseconds;
            var second = Backoff.Delay(policy, 2).TotalMilliseconds;
            var third = Backoff.Delay(policy, 3).TotalMilliseconds;
            first.ShouldBeInRange(100, 200);
            second.ShouldBeInRange(200, 400);
            third.ShouldBeInRange(400, 800);
            Backoff.Delay(policy, 4).TotalMilliseconds.ShouldBeInRange(500, 1000); // capped at maxDelay
        }
    }

    [Fact]
    public void Given_many_retries_When_the_exponent_is_large_Then_the_delay_stays_at_max_delay()
    {
        var policy = new RetryPolicy(100, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(10));
        Backoff.Delay(policy, 100).ShouldBeLessThanOrEqualTo(TimeSpan.FromMinutes(10));
        Backoff.Delay(policy, 100).ShouldBeGreaterThanOrEqualTo(TimeSpan.FromMinutes(5));
    }
}

public sealed class RunTemplatesTests
{
    private static readonly Guid RunId = Guid.Parse("01234567-89ab-cdef-0123-456789abcdef");

    private static TemplateScope Scope() => new(
        RunId,
        "train",
        4,
        new JsonObject { ["lr"] = 0.01, ["name"] = "m", ["cfg"] = new JsonObject { ["depth"] = 3 } },
        new Dictionary<string, JsonObject> { ["fit"] = new() { ["uri"] = "s3://b/k", ["metrics"] = new JsonObject { ["acc"] = 0.9 } } });

    [Fact]
    public void Given_whole_string_templates_When_resolved_Then_values_keep_their_json_type()
    {
        var resolved = RunTemplates.Resolve(new JsonObject
        {
            ["lr"] = "${params.lr}",
            ["depth"] = "${params.cfg.depth}",
            ["acc"] = "${steps.fit.outputs.metrics.acc}",
            ["metrics"] = "${steps.fit.outputs.metrics}",
            ["version"] = "${run.version}",
        }, Scope());

        resolved["lr"]!.GetValue<double>().ShouldBe(0.01);
        resolved["depth"]!.GetValue<int>().ShouldBe(3);
        resolved["acc"]!.GetValue<double>().ShouldBe(0.9);
        resolved["metrics"].ShouldBeOfType<JsonObject>();
        resolved["version"]!.GetValue<int>().ShouldBe(4);
    }

    [Fact]
    public void Given_templates_inside_text_arrays_and_objects_When_resolved_Then_values_are_written_into_the_strings()
    {
        var resolved = RunTemplates.Resolve(new JsonObject
        {
            ["text"] = "${run.workflow}/${run.id}: ${steps.fit.outputs.uri} lr=${params.lr} $${literal}",
            ["list"] = new JsonArray("${params.name}", 1, true),
            ["nested"] = new JsonObject { ["missing"] = "${steps.skipped.outputs.x}" },
        }, Scope());

        resolved["text"]!.GetValue<string>().ShouldBe($"train/{RunId}: s3://b/k lr=0.01 ${{literal}}");
        resolved["list"]!.ToJsonString().ShouldBe("[\"m\",1,true]");
        resolved["nested"]!["missing"].ShouldBeNull();
    }

    [Fact]
    public void Given_a_malformed_template_When_resolved_Then_the_step_fails_without_retry()
    {
        var error = Should.Throw<StepFailedException>(() => RunTemplates.Resolve(new JsonObject { ["x"] = new JsonObject { ["y"] = "${params.lr" } }, Scope()));
        error.Retryable.ShouldBeFalse();
        error.Message.ShouldStartWith("params.x.y:");
    }
}
