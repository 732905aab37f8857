using System.Text.Json.Nodes;
using MlPlatform.Workflows.Definitions;

namespace MlPlatform.UnitTests.Workflows;

public sealed class WhenExpressionTests
{
    private static bool Evaluate(string condition, Dictionary<string, JsonNode?> values)
    {
        WhenExpression.TryParse(condition, out var expression, out var error).ShouldBeTrue(error);
        return expression!.Evaluate(r => values.GetValueOrDefault(r.Text));
    }

    [Theory]
    [InlineData("${steps.eval.outputs.accuracy} >= 0.9", true)]
    [InlineData("${steps.eval.outputs.accuracy} > 0.95 || ${params.force}", true)]
    [InlineData("${steps.eval.outputs.accuracy} > 0.95 && ${params.force}", false)]
    [InlineData("!${params.force}", false)]
    [InlineData("${params.stage} == 'prod' && (${params.force} != false)", true)]
    [InlineData("${params.stage} == \"dev\"", false)]
    [InlineData("${params.count} == 3", true)]
    [InlineData("${params.missing}", false)]
    [InlineData("${params.missing} == null", true)]
    [InlineData("${params.stage} < 'zzz'", true)]
    public void Given_condition_Then_it_evaluates_against_resolved_values(string condition, bool expected)
    {
        var values = new Dictionary<string, JsonNode?>
        {
            ["${steps.eval.outputs.accuracy}"] = 0.93,
            ["${params.force}"] = true,
            ["${params.stage}"] = "prod",
            ["${params.count}"] = 3L,
        };

        Evaluate(condition, values).ShouldBe(expected);
    }

    [Theory]
    [InlineData("${params.x} ==")]
    [InlineData("(${params.x}")]
    [InlineData("${params.x} = 1")]
    [InlineData("'open")]
    [InlineData("${params.x")]
    [InlineData("deploy")]
    [InlineData("${secrets.token}")]
    public void Given_malformed_condition_Then_parsing_fails_with_a_message(string condition)
    {
        WhenExpression.TryParse(condition, out _, out var error).ShouldBeFalse();
        error.ShouldNotBeNullOrWhiteSpace();
    }

    [Fact]
    public void Given_deeply_nested_condition_Then_parsing_fails_instead_of_overflowing()
    {
        WhenExpression.TryParse(new string('(', 5000) + "true" + new string(')', 5000), out _, out var error).ShouldBeFalse();
        error!.ShouldContain("nested deeper");
    }

    [Fact]
    public void Given_comparison_of_a_number_with_a_string_Then_evaluation_says_so()
    {
        WhenExpression.TryParse("${params.a} < 'x'", out var expression, out _).ShouldBeTrue();

        Should.Throw<InvalidOperationException>(() => expression!.Evaluate(_ => 1L)).Message.ShouldContain("two numbers or two strings");
    }
}
