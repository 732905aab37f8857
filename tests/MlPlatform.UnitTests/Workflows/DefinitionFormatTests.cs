using MlPlatform.Workflows.Definitions;

namespace MlPlatform.UnitTests.Workflows;

public sealed class DefinitionFormatTests
{
    private const string Yaml = """
        # A comment YAML allows and JSON does not.
        name: train-model
        description: "Trains: then waits"
        parameters:
          epochs: {type: int, default: 10}
          lr: {type: number, default: 0.5}
          on: {type: bool, default: yes-is-a-string-here}
        steps:
          - id: train
            type: noop
            params:
              outputs: {count: 3, ratio: 1.0, flag: true, nothing: null, text: "42", list: [1, two]}
          - id: pause
            type: wait
            dependsOn: [train]
            params: {duration: 90s}
            retries: {max: 2}
        schedule:
          cron: "0 3 * * *"
        """;

    private const string Json = """
        {
          "steps": [
            {"type": "noop", "id": "train", "params": {"outputs": {"ratio": 1, "count": 3.0, "flag": true, "nothing": null, "text": "42", "list": [1, "two"]}}},
            {"id": "pause", "type": "wait", "dependsOn": ["train"], "params": {"duration": "90s"}, "retries": {"max": 2, "backoff": "10s"}}
          ],
          "name": "train-model",
          "description": "Trains: then waits",
          "parameters": {"epochs": {"type": "int", "default": 10}, "lr": {"type": "number", "default": 0.5}, "on": {"type": "bool", "default": "yes-is-a-string-here"}},
          "schedule": {"cron": "0 3 * * *", "timeZone": "UTC", "overlap": "skip"}
        }
        """;

    [Fact]
    public void Given_same_definition_in_YAML_and_JSON_Then_both_read_the_same_and_hash_equally()
    {
        var yamlTree = DefinitionDocument.Parse(Yaml, DefinitionFormat.Yaml);
        var jsonTree = DefinitionDocument.Parse(Json, DefinitionFormat.Json);

        // Both hold the same mistake (a bool default that is a string) and report it at the same path...
        var yamlErrors = Definitions.Processor.Process(yamlTree).Errors;
        yamlErrors.ShouldBe(Definitions.Processor.Process(jsonTree).Errors);
        yamlErrors.Single().Path.ShouldBe("parameters.on.default");

        // ... and once fixed, normalize to the same JSON and the same content hash.
        yamlTree["parameters"]!["on"]!["default"] = true;
        jsonTree["parameters"]!["on"]!["default"] = true;
        var fromYaml = Definitions.Processor.Process(yamlTree).Valid!;
        var fromJson = Definitions.Processor.Process(jsonTree).Valid!;
        fromYaml.ContentHash.ShouldBe(fromJson.ContentHash);
        System.Text.Json.Nodes.JsonNode.DeepEquals(fromYaml.Normalized, fromJson.Normalized).ShouldBeTrue();
    }

    [Fact]
    public void Given_YAML_scalars_Then_the_core_schema_types_them_and_quoted_ones_stay_strings()
    {
        var tree = DefinitionDocument.Parse("""
            a: 12
            b: -3.5e2
            c: TRUE
            d: ~
            e: "12"
            f: on
            g: 0x1F
            h: 2024-01-01
            i: !!str 7
            j: |
              two
              lines
            """, DefinitionFormat.Yaml);

        tree["a"]!.GetValue<long>().ShouldBe(12);
        tree["b"]!.GetValue<double>().ShouldBe(-350);
        tree["c"]!.GetValue<bool>().ShouldBeTrue();
        tree["d"].ShouldBeNull();
        tree["e"]!.GetValue<string>().ShouldBe("12");
        tree["f"]!.GetValue<string>().ShouldBe("on");
        tree["g"]!.GetValue<long>().ShouldBe(31);
        tree["h"]!.GetValue<string>().ShouldBe("2024-01-01");
        tree["i"]!.GetValue<string>().ShouldBe("7");
        tree["j"]!.GetValue<string>().ShouldBe("two\nlines");
    }

    [Fact]
    public void Given_malformed_YAML_Then_the_error_has_the_parsers_line_and_column()
    {
        var error = Should.Throw<DefinitionSyntaxException>(() => DefinitionDocument.Parse("""
            name: broken
            steps:
              - id: a
                type: [noop
            """, DefinitionFormat.Yaml));

        error.Line.ShouldNotBeNull();
        error.Line!.Value.ShouldBeGreaterThanOrEqualTo(4);
        error.Column.ShouldNotBeNull();
        error.Message.ShouldStartWith($"Invalid YAML at line {error.Line}, column {error.Column}:");
    }

    [Fact]
    public void Given_malformed_JSON_Then_the_error_has_line_and_column()
    {
        var error = Should.Throw<DefinitionSyntaxException>(() => DefinitionDocument.Parse("{\n  \"name\": \"x\",\n  \"steps\": [,]\n}", DefinitionFormat.Json));

        error.Line.ShouldBe(3);
        error.Column.ShouldBe(13);
        error.Message.ShouldStartWith("Invalid JSON at line 3, column 13:");
        error.Message.ShouldNotContain("LineNumber");
    }

    [Theory]
    [InlineData(DefinitionFormat.Json, "{\"name\": \"a\", \"name\": \"b\"}", "appears twice")]
    [InlineData(DefinitionFormat.Yaml, "name: a\nname: b\n", "line 2, column 1")]
    [InlineData(DefinitionFormat.Yaml, "name: a\n---\nname: b\n", "more than one YAML document")]
    [InlineData(DefinitionFormat.Yaml, "? [a]\n: b\n", "plain strings")]
    [InlineData(DefinitionFormat.Yaml, "a: !!python/object x\n", "Unsupported tag")]
    [InlineData(DefinitionFormat.Yaml, "a: *nothing\n", "Unknown alias")]
    [InlineData(DefinitionFormat.Yaml, "", "empty")]
    [InlineData(DefinitionFormat.Json, "  \n ", "empty")]
    [InlineData(DefinitionFormat.Json, "null", "null")]
    public void Given_input_that_is_not_one_definition_Then_a_syntax_error_says_why(DefinitionFormat format, string text, string expected)
    {
        Should.Throw<DefinitionSyntaxException>(() => DefinitionDocument.Parse(text, format)).Message.ShouldContain(expected);
    }

    [Fact]
    public void Given_YAML_alias_bomb_Then_it_is_refused_instead_of_expanded()
    {
        var lines = new List<string> { "a0: &a0 [x, x, x, x, x, x, x, x, x, x]" };
        for (var i = 1; i <= 9; i++)
        {
            lines.Add($"a{i}: &a{i} [" + string.Join(", ", Enumerable.Repeat($"*a{i - 1}", 10)) + "]");
        }

        var error = Should.Throw<DefinitionSyntaxException>(() => DefinitionDocument.Parse(string.Join('\n', lines), DefinitionFormat.Yaml));

        error.Message.ShouldContain("expands to more than");
    }

    [Fact]
    public void Given_YAML_anchors_within_limits_Then_aliases_are_expanded()
    {
        var outcome = Definitions.Yaml("""
            name: anchors
            steps:
              - &base {id: a, type: noop}
              - {id: b, type: noop, dependsOn: [a]}
            """);

        outcome.Errors.ShouldBeEmpty();
    }

    [Fact]
    public void Given_deep_nesting_Then_it_is_refused()
    {
        var json = new string('[', 100) + new string(']', 100);

        Should.Throw<DefinitionSyntaxException>(() => DefinitionDocument.Parse(json, DefinitionFormat.Json));
        Should.Throw<DefinitionSyntaxException>(() => DefinitionDocument.Parse(json, DefinitionFormat.Yaml)).Message.ShouldContain("nested deeper");
    }

    [Fact]
    public void Given_stored_definition_Then_it_loads_back_to_the_same_model()
    {
        var valid = Definitions.Yaml(Yaml.Replace("yes-is-a-string-here", "true", StringComparison.Ordinal)).Valid!;

        var loaded = DefinitionProcessor.Load(valid.Json);

        DefinitionJson.ContentHash(DefinitionJson.ToJson(loaded)).ShouldBe(valid.ContentHash);
        loaded.Steps[1].Retries.ShouldBe(new RetryPolicy(2, TimeSpan.FromSeconds(10), TimeSpan.FromMinutes(10)));
    }
}

public sealed class ExampleDefinitionTests
{
    private static string RepositoryRoot
    {
        get
        {
            var directory = new DirectoryInfo(AppContext.BaseDirectory);
            while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "MlPlatform.sln")))
            {
                directory = directory.Parent;
            }

            return directory?.FullName ?? throw new InvalidOperationException("MlPlatform.sln not found above the test binaries.");
        }
    }

    [Fact]
    public void Given_the_example_workflows_Then_each_is_valid()
    {
        var files = Directory.GetFiles(Path.Combine(RepositoryRoot, "examples", "workflows"), "*.yaml");

        files.ShouldNotBeEmpty();
        foreach (var file in files)
        {
            // Step types of other modules (data.*, model.*) are not registered here; the integration
            // test EndToEnd/TrainAndDeployExampleTests submits those examples to the full host.
            Definitions.Yaml(File.ReadAllText(file)).Errors
                .Where(e => !(e.Path.EndsWith(".type", StringComparison.Ordinal) && e.Message.StartsWith("Unknown step type '", StringComparison.Ordinal)
                    && e.Message.Split('\'')[1].Contains('.', StringComparison.Ordinal)))
                .ShouldBeEmpty(file);
        }
    }

    [Fact]
    public void Given_the_README_workflow_example_Then_it_is_valid()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot, "README.md"));
        var section = readme[readme.IndexOf("## Workflow definitions", StringComparison.Ordinal)..];
        var start = section.IndexOf("```yaml\n", StringComparison.Ordinal) + "```yaml\n".Length;
        var yaml = section[start..section.IndexOf("```", start, StringComparison.Ordinal)];

        Definitions.Yaml(yaml).Errors.ShouldBeEmpty();
    }
}
