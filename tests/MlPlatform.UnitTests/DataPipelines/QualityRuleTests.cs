using System.Text.Json.Nodes;
using FluentValidation;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Quality;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UnitTests.DataPipelines;

public sealed class QualityRuleTests
{
    [Fact]
    public void Given_rules_When_parsed_Then_defaults_are_blocking_and_mostly_one_and_round_trip()
    {
        var rules = QualityRule.ParseAll(JsonNode.Parse("""[{"type": "not_null", "column": "a"}, {"type": "in_set", "column": "b", "values": ["x", 1], "mostly": 0.9, "severity": "warning"}]""")!.AsArray());
        rules[0].Severity.ShouldBe(Severities.Blocking);
        rules[0].Mostly.ShouldBe(1);
        rules[1].Mostly.ShouldBe(0.9);
        rules[1].Label.ShouldBe("in_set(b)");
        QualityRule.ParseAll(new JsonArray(rules.Select(r => (JsonNode?)r.ToJson()).ToArray())).ShouldBe(rules, ignoreOrder: false, comparer: new RuleComparer());
    }

    [Theory]
    [InlineData("""[]""", "rules")]
    [InlineData("""[{"type": "between", "column": "a", "min": 5, "max": 1}]""", "rules[0].min")]
    [InlineData("""[{"type": "regex", "column": "a"}]""", "rules[0].pattern")]
    [InlineData("""[{"type": "type", "column": "a", "dataType": "uuid"}]""", "rules[0].dataType")]
    [InlineData("""[{"type": "expression", "expression": "a > 1 -- comment"}]""", "rules[0].expression")]
    [InlineData("""[{"type": "not_null", "column": "a", "severity": "fatal"}]""", "rules[0].severity")]
    [InlineData("""[{"type": "not_null", "column": "a", "colum": "b"}]""", "rules[0].colum")]
    public void Given_malformed_rule_When_parsed_Then_400_with_its_path(string json, string path)
    {
        var error = Should.Throw<ValidationException>(() => QualityRule.ParseAll(JsonNode.Parse(json) as JsonArray));
        error.Errors.Select(e => e.PropertyName).ShouldContain(path);
    }

    [Theory]
    [InlineData("churn@3", "churn", 3)]
    [InlineData("churn", "churn", null)]
    [InlineData("a.b-c_d@12", "a.b-c_d", 12)]
    public void Given_dataset_reference_When_parsed_Then_name_and_version(string text, string name, int? version) =>
        DatasetRules.ParseRef(text).ShouldBe((name, version));

    [Theory]
    [InlineData("churn@")]
    [InlineData("churn@0")]
    [InlineData("Churn@1")]
    [InlineData("@1")]
    public void Given_bad_dataset_reference_When_parsed_Then_400(string text) =>
        Should.Throw<BadRequestException>(() => DatasetRules.ParseRef(text));

    private sealed class RuleComparer : IEqualityComparer<QualityRule>
    {
        public bool Equals(QualityRule? x, QualityRule? y) => x!.ToJson().ToJsonString() == y!.ToJson().ToJsonString();

        public int GetHashCode(QualityRule obj) => obj.Type.GetHashCode(StringComparison.Ordinal);
    }
}
