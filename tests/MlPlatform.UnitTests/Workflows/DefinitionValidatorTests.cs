using MlPlatform.Workflows.Definitions;

namespace MlPlatform.UnitTests.Workflows;

public sealed class DefinitionValidatorTests
{
    [Fact]
    public void Given_valid_definition_Then_it_is_valid_and_normalized_with_defaults_written_out()
    {
        var outcome = Definitions.Yaml("""
            name: train-model
            description: Trains and waits
            parameters:
              epochs: {type: int, default: 10}
              lr: {type: number, default: 0.01, description: learning rate}
            steps:
              - id: prepare
                type: noop
                params: {outputs: {rows: 3}}
              - id: train
                type: noop
                dependsOn: [prepare]
                params: {outputs: {uri: "s3://b/${run.id}/${steps.prepare.outputs.rows}", epochs: "${params.epochs}"}}
                retries: {max: 3, backoff: 90s}
                timeout: 1h30m
              - id: pause
                type: wait
                dependsOn: [train]
                params: {duration: 5m}
                when: ${steps.train.outputs.epochs} > 5 && ${params.lr} < 1
            schedule: {cron: "0 3 * * *", timeZone: Europe/Berlin}
            maxActiveRuns: 2
            """);

        outcome.Errors.ShouldBeEmpty();
        var json = outcome.Valid!.Normalized;
        json["schedule"]!["overlap"]!.GetValue<string>().ShouldBe("skip");
        json["schedule"]!["catchUp"]!.GetValue<bool>().ShouldBeFalse();
        json["steps"]![1]!["retries"]!["backoff"]!.GetValue<string>().ShouldBe("1m30s");
        json["steps"]![1]!["retries"]!["maxDelay"]!.GetValue<string>().ShouldBe("10m");
        json["steps"]![1]!["timeout"]!.GetValue<string>().ShouldBe("1h30m");
        json["steps"]![0]!["dependsOn"]!.AsArray().Count.ShouldBe(0);
        outcome.Valid.ContentHash.Length.ShouldBe(64);
    }

    [Fact]
    public void Given_duplicate_step_ids_Then_the_second_is_reported_at_its_id()
    {
        var errors = Definitions.ErrorsOf("""
            name: dup
            steps:
              - {id: a, type: noop}
              - {id: b, type: noop}
              - {id: a, type: noop}
            """);

        Definitions.Single(errors, "steps[2].id").Message.ShouldContain("Duplicate step id 'a'");
        errors.Count.ShouldBe(1);
    }

    [Fact]
    public void Given_unknown_step_type_Then_reported_with_a_suggestion()
    {
        var errors = Definitions.ErrorsOf("""
            name: unknown-type
            steps:
              - {id: a, type: wiat, params: {duration: 1s}}
              - {id: b, type: model.train}
            """);

        Definitions.Single(errors, "steps[0].type").Message.ShouldContain("did you mean 'wait'");
        Definitions.Single(errors, "steps[1].type").Message.ShouldContain("registered types: approval, http, noop, wait");
    }

    [Fact]
    public void Given_params_invalid_for_the_step_type_Then_each_is_reported_under_params()
    {
        var errors = Definitions.ErrorsOf("""
            name: bad-params
            steps:
              - {id: a, type: wait}
              - {id: b, type: wait, params: {duration: soon, extra: 1}}
              - {id: c, type: noop, params: {outputs: 3}}
              - {id: d, type: approval, params: {message: ok, roles: [Owner, Janitor]}}
            """);

        Definitions.Single(errors, "steps[0].params.duration").Message.ShouldContain("required");
        Definitions.Single(errors, "steps[1].params.duration").Message.ShouldContain("'soon' is not a duration");
        Definitions.Single(errors, "steps[1].params.extra").Message.ShouldContain("Unknown parameter 'extra'");
        Definitions.Single(errors, "steps[2].params.outputs").Message.ShouldContain("Expected an object");
        Definitions.Single(errors, "steps[3].params.roles[1]").Message.ShouldContain("Unknown role 'Janitor'");
    }

    [Theory]
    [InlineData("https://evil.example.org/x", true)]
    [InlineData("https://api.example.com/v1/jobs", false)]
    [InlineData("https://deep.sub.internal.test/x", false)]
    [InlineData("https://internal.test/x", true)]
    [InlineData("http://localhost:8080/hook", false)]
    [InlineData("http://localhost:9090/hook", true)]
    [InlineData("ftp://api.example.com/x", true)]
    [InlineData("https://user:secret@api.example.com/x", true)]
    [InlineData("https://${params.host}/x", false)]
    [InlineData("https://evil.example.org/${params.path}", true)]
    public void Given_http_step_Then_the_url_host_must_be_on_the_allow_list(string url, bool rejected)
    {
        var outcome = Definitions.Yaml($$$"""
            name: http-call
            parameters: {host: {type: string, default: x}, path: {type: string, default: y}}
            steps:
              - {id: call, type: http, params: {url: "{{{url}}}", method: POST, body: {a: 1} } }
            """);

        outcome.IsValid.ShouldBe(!rejected, string.Join(" | ", outcome.Errors.Select(e => e.Path + ": " + e.Message)));
        if (rejected)
        {
            Definitions.Single(outcome.Errors, "steps[0].params.url");
        }
    }

    [Fact]
    public void Given_http_step_with_a_body_on_GET_and_a_reserved_header_Then_both_are_reported()
    {
        var errors = Definitions.ErrorsOf("""
            name: http-bad
            steps:
              - {id: call, type: http, params: {url: "https://api.example.com/", body: x, headers: {Host: other, X-Ok: fine}}}
            """);

        Definitions.Single(errors, "steps[0].params.body").Message.ShouldContain("GET request has no body");
        Definitions.Single(errors, "steps[0].params.headers.Host").Message.ShouldContain("set by the platform");
        errors.Count.ShouldBe(2);
    }

    [Fact]
    public void Given_unknown_dependency_Then_reported_at_its_dependsOn_entry()
    {
        var errors = Definitions.ErrorsOf("""
            name: unknown-dep
            steps:
              - {id: train, type: noop}
              - {id: evaluate, type: noop, dependsOn: [train, trian, ghost]}
            """);

        Definitions.Single(errors, "steps[1].dependsOn[1]").Message.ShouldContain("did you mean 'train'");
        Definitions.Single(errors, "steps[1].dependsOn[2]").Message.ShouldContain("Unknown step 'ghost'");
    }

    [Fact]
    public void Given_cycle_Then_the_error_names_it_in_run_order()
    {
        var errors = Definitions.ErrorsOf("""
            name: cyclic
            steps:
              - {id: a, type: noop, dependsOn: [c]}
              - {id: b, type: noop, dependsOn: [a]}
              - {id: c, type: noop, dependsOn: [b]}
              - {id: d, type: noop, dependsOn: [a]}
            """);

        Definitions.Single(errors, "steps[0].dependsOn[0]").Message.ShouldContain("a → b → c → a");
        errors.Count.ShouldBe(1);
    }

    [Fact]
    public void Given_two_separate_cycles_and_a_self_dependency_Then_each_is_named()
    {
        var errors = Definitions.ErrorsOf("""
            name: cycles
            steps:
              - {id: x, type: noop, dependsOn: [y]}
              - {id: y, type: noop, dependsOn: [x]}
              - {id: p, type: noop, dependsOn: [start, r]}
              - {id: q, type: noop, dependsOn: [p]}
              - {id: r, type: noop, dependsOn: [q]}
              - {id: start, type: noop}
              - {id: me, type: noop, dependsOn: [me]}
            """);

        Definitions.Single(errors, "steps[0].dependsOn[0]").Message.ShouldContain("x → y → x");
        Definitions.Single(errors, "steps[2].dependsOn[1]").Message.ShouldContain("p → q → r → p");
        Definitions.Single(errors, "steps[6].dependsOn[0]").Message.ShouldContain("me → me");
        errors.Count.ShouldBe(3);
    }

    [Fact]
    public void Given_long_chain_Then_validation_is_fast_and_does_not_overflow()
    {
        var steps = string.Join(",", Enumerable.Range(0, 20_000).Select(i => i == 0
            ? "{\"id\":\"s0\",\"type\":\"noop\"}"
            : $"{{\"id\":\"s{i}\",\"type\":\"noop\",\"dependsOn\":[\"s{i - 1}\"],\"params\":{{\"outputs\":{{\"v\":\"${{steps.s0.outputs.v}}\"}}}}}}"));
        var started = System.Diagnostics.Stopwatch.StartNew();

        var outcome = Definitions.Json($"{{\"name\":\"long-chain\",\"steps\":[{steps}]}}");

        outcome.Errors.ShouldBeEmpty();
        started.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void Given_template_to_a_step_that_is_not_upstream_Then_reported_at_the_value()
    {
        var errors = Definitions.ErrorsOf("""
            name: templates
            steps:
              - {id: ingest, type: noop}
              - {id: train, type: noop, dependsOn: [ingest]}
              - {id: report, type: noop, dependsOn: [ingest]}
              - id: deploy
                type: noop
                dependsOn: [train]
                params:
                  outputs:
                    model: ${steps.train.outputs.model}
                    data: ${steps.ingest.outputs.rows}
                    summary: "see ${steps.report.outputs.url}"
                    own: ${steps.deploy.outputs.x}
                    ghost: ${steps.ghost.outputs.x}
            """);

        Definitions.Single(errors, "steps[3].params.outputs.summary").Message.ShouldContain("not upstream of 'deploy'");
        Definitions.Single(errors, "steps[3].params.outputs.own").Message.ShouldContain("own outputs");
        Definitions.Single(errors, "steps[3].params.outputs.ghost").Message.ShouldContain("does not exist");
        errors.Count.ShouldBe(3);
    }

    [Fact]
    public void Given_parameter_and_run_templates_Then_undeclared_parameters_and_unknown_fields_are_reported()
    {
        var errors = Definitions.ErrorsOf("""
            name: params
            parameters: {epochs: {type: int, default: 3}}
            steps:
              - id: a
                type: noop
                params:
                  outputs:
                    ok: ${params.epochs}
                    run: ${run.id}
                    missing: ${params.batch_size}
                    field: ${run.owner}
                    broken: "${params.epochs"
                    other: ${env.HOME}
                    escaped: "$${not.a.template}"
            """);

        Definitions.Single(errors, "steps[0].params.outputs.missing").Message.ShouldContain("'batch_size', which is not declared");
        Definitions.Single(errors, "steps[0].params.outputs.field").Message.ShouldContain("not a known run field");
        Definitions.Single(errors, "steps[0].params.outputs.broken").Message.ShouldContain("Unterminated template");
        Definitions.Single(errors, "steps[0].params.outputs.other").Message.ShouldContain("'env'");
        errors.Count.ShouldBe(4);
    }

    [Fact]
    public void Given_when_conditions_Then_syntax_and_references_are_checked()
    {
        var errors = Definitions.ErrorsOf("""
            name: conditions
            parameters: {deploy: {type: bool, default: false}}
            steps:
              - {id: evaluate, type: noop}
              - {id: ok, type: noop, dependsOn: [evaluate], when: "${steps.evaluate.outputs.accuracy} >= 0.9 && (${params.deploy} || !false)"}
              - {id: bad-syntax, type: noop, dependsOn: [evaluate], when: "${params.deploy} =="}
              - {id: not-upstream, type: noop, when: "${steps.evaluate.outputs.accuracy} > 0.5"}
            """);

        Definitions.Single(errors, "steps[2].when").Message.ShouldContain("not valid");
        Definitions.Single(errors, "steps[3].when").Message.ShouldContain("not upstream");
        errors.Count.ShouldBe(2);
    }

    [Theory]
    [InlineData("0 3 * * *", "UTC", null, null)]
    [InlineData("*/30 * * * * *", "America/New_York", null, null)]
    [InlineData("@daily", "Asia/Tokyo", null, null)]
    [InlineData("0 3 * *", "UTC", "schedule.cron", "5 fields")]
    [InlineData("61 3 * * *", "UTC", "schedule.cron", "not a valid cron expression")]
    [InlineData("0 3 * * *", "Mars/Olympus_Mons", "schedule.timeZone", "Unknown time zone")]
    [InlineData("0 3 * * *", "", "schedule.timeZone", "Unknown time zone")]
    public void Given_schedule_Then_cron_and_IANA_time_zone_are_checked(string cron, string zone, string? path, string? message)
    {
        var outcome = Definitions.Json($$$"""
            {"name": "scheduled", "steps": [{"id": "a", "type": "noop"}], "schedule": {"cron": "{{{cron}}}", "timeZone": "{{{zone}}}", "overlap": "cancelPrevious", "catchUp": true}}
            """);

        if (path is null)
        {
            outcome.Errors.ShouldBeEmpty();
        }
        else
        {
            Definitions.Single(outcome.Errors, path).Message.ShouldContain(message!);
        }
    }

    [Fact]
    public void Given_scheduled_workflow_Then_every_parameter_needs_a_default()
    {
        var errors = Definitions.ErrorsOf("""
            name: nightly
            parameters: {date: {type: string}, size: {type: int, default: 1}}
            steps: [{id: a, type: noop}]
            schedule: {cron: "0 0 * * *", overlap: sometimes}
            """);

        Definitions.Single(errors, "parameters.date").Message.ShouldContain("needs a default");
        Definitions.Single(errors, "schedule.overlap").Message.ShouldContain("skip, allow, cancelPrevious");
    }

    [Theory]
    [InlineData("int", "3.5")]
    [InlineData("int", "\"3\"")]
    [InlineData("bool", "1")]
    [InlineData("duration", "\"ten minutes\"")]
    [InlineData("object", "[1]")]
    [InlineData("string", "{\"a\": 1}")]
    public void Given_parameter_default_not_of_its_type_Then_reported_at_default(string type, string value)
    {
        var outcome = Definitions.Json($$$"""
            {"name": "defaults", "parameters": {"p": {"type": "{{{type}}}", "default": {{{value}}}}}, "steps": [{"id": "a", "type": "noop"}]}
            """);

        Definitions.Single(outcome.Errors, "parameters.p.default").Message.ShouldContain("does not match the parameter's type");
    }

    [Fact]
    public void Given_many_problems_Then_all_are_reported_at_once_with_their_paths()
    {
        var errors = Definitions.ErrorsOf("""
            name: Not_A_Valid_Name
            colour: blue
            parameters:
              epochs: {type: integer}
            steps:
              - {id: a, type: noop, depends_on: [b]}
              - {id: a, type: nope}
              - {id: c, type: wait, params: {duration: 0s}, dependsOn: [zzz], retries: {max: 1000, backoff: 1m, maxDelay: 10s}, timeout: 0s}
              - {type: noop}
              - 42
            maxActiveRuns: 0
            """);

        var paths = errors.Select(e => e.Path).ToList();
        paths.ShouldBe(
            [
                "colour", "name", "parameters.epochs.type", "steps[0].depends_on", "steps[2].retries.max", "steps[2].retries.maxDelay",
                "steps[2].timeout", "steps[3].id", "steps[4]", "maxActiveRuns", "steps[1].id", "steps[1].type",
                "steps[2].params.duration", "steps[2].dependsOn[0]",
            ],
            ignoreOrder: true);
        Definitions.Single(errors, "steps[0].depends_on").Message.ShouldContain("did you mean 'dependsOn'");
    }

    [Theory]
    [InlineData("[]", "$")]
    [InlineData("{\"name\": \"x1\"}", "steps")]
    [InlineData("{\"name\": \"x1\", \"steps\": []}", "steps")]
    [InlineData("{\"name\": 5, \"steps\": {}}", "name")]
    public void Given_wrong_shapes_Then_reported_without_a_crash(string json, string path)
    {
        Definitions.Single(Definitions.Json(json).Errors, path);
    }
}
