using System.Net;
using System.Text;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

public sealed class QualityTests(DataHostsFixture hosts) : IClassFixture<DataHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    /// <summary>Planted errors: a null age (line 3), a duplicate id (lines 4-5), country XX and a bad e-mail (line 4), score 1.5 (line 5), age 17 (line 6), amount n/a (line 7).</summary>
    internal const string Planted =
        "id,age,country,email,score,amount\n" +
        "1,34,FR,a@x.com,0.5,10\n" +
        "2,,DE,b@x.com,0.7,20\n" +
        "3,29,XX,not-an-email,0.9,30\n" +
        "3,41,FR,c@x.com,1.5,40\n" +
        "5,17,DE,d@x.com,0.2,50\n" +
        "6,25,FR,e@x.com,0.4,n/a\n" +
        "7,30,FR,f@x.com,0.3,70\n" +
        "8,33,DE,g@x.com,0.6,80\n" +
        "9,45,FR,h@x.com,0.1,90\n" +
        "10,52,FR,i@x.com,0.8,100\n";

    internal const string Clean =
        "id,age,country,email,score,amount\n" +
        "1,34,FR,a@x.com,0.5,10\n" +
        "2,22,DE,b@x.com,0.7,20\n" +
        "3,29,FR,c@x.com,0.9,30\n" +
        "4,41,DE,d@x.com,1.0,40\n" +
        "5,19,FR,e@x.com,0.2,50\n";

    internal static object[] AllRules =>
    [
        new { type = "not_null", column = "age" },
        new { type = "unique", column = "id" },
        new { type = "in_set", column = "country", values = new[] { "FR", "DE" } },
        new { type = "between", column = "age", min = 18, max = 99 },
        new { type = "regex", column = "email", pattern = "[^@]+@[^@]+\\.[a-z]+" },
        new { type = "type", column = "amount", dataType = "number" },
        new { type = "row_count_between", min = 5, max = 100 },
        new { type = "expression", expression = "score <= 1.0", name = "score at most 1" },
        new { type = "not_null", column = "age", mostly = 0.8, name = "age mostly present" },
        new { type = "in_set", column = "country", values = new[] { "FR", "DE" }, mostly = 0.95, severity = "warning", name = "country mostly known" },
        new { type = "row_count_between", min = 20, severity = "warning", name = "at least 20 rows" },
    ];

    private static JsonElement Result(JsonElement report, int index) => report.GetProperty("results")[index];

    private static List<long> Lines(JsonElement result) =>
        result.GetProperty("sample").EnumerateArray().Select(s => s.GetProperty("line").GetInt64()).ToList();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_planted_errors_When_suite_runs_Then_each_rule_fails_with_right_counts_observed_values_and_sampled_lines(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await DatasetWith(api.Maintainer, api.Project, Planted, "planted");
        var suite = NewName("all");
        await Json(await CreateSuite(api.Maintainer, api.Project, suite, AllRules), HttpStatusCode.Created);

        var response = await RunSuite(api.Maintainer, api.Project, $"{name}@1", suite);
        var report = await Json(response, HttpStatusCode.Created);

        report.GetProperty("passed").GetBoolean().ShouldBeFalse();
        report.GetProperty("rows").GetInt64().ShouldBe(10);
        report.GetProperty("failedRules").GetInt32().ShouldBe(7);
        report.GetProperty("warnings").GetInt32().ShouldBe(2);
        Result(report, 0).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Result(report, 0).GetProperty("observed").GetProperty("nulls").GetInt64().ShouldBe(1);
        Lines(Result(report, 0)).ShouldBe([3]);
        Result(report, 1).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Result(report, 1).GetProperty("observed").GetProperty("duplicates").GetInt64().ShouldBe(1);
        Lines(Result(report, 1)).ShouldBe([4, 5]);
        Result(report, 2).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Lines(Result(report, 2)).ShouldBe([4]);
        Result(report, 2).GetProperty("sample")[0].GetProperty("values").GetProperty("country").GetString().ShouldBe("XX");
        Result(report, 3).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Result(report, 3).GetProperty("observed").GetProperty("min").GetDouble().ShouldBe(17);
        Lines(Result(report, 3)).ShouldBe([6]);
        Result(report, 4).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Lines(Result(report, 4)).ShouldBe([4]);
        Result(report, 5).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Result(report, 5).GetProperty("observed").GetProperty("columnType").GetString().ShouldBe("string");
        Lines(Result(report, 5)).ShouldBe([7]);
        Result(report, 6).GetProperty("passed").GetBoolean().ShouldBeTrue();
        Result(report, 6).GetProperty("observed").GetInt64().ShouldBe(10);
        Result(report, 7).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Result(report, 7).GetProperty("rule").GetString().ShouldBe("score at most 1");
        Lines(Result(report, 7)).ShouldBe([5]);
        Result(report, 8).GetProperty("passed").GetBoolean().ShouldBeTrue("1 null in 10 rows is within mostly 0.8");
        Result(report, 8).GetProperty("failingRows").GetInt64().ShouldBe(1);
        Result(report, 9).GetProperty("passed").GetBoolean().ShouldBeFalse("1 unknown in 10 rows is beyond mostly 0.95");
        Result(report, 9).GetProperty("severity").GetString().ShouldBe("warning");
        Result(report, 10).GetProperty("passed").GetBoolean().ShouldBeFalse();
        foreach (var index in new[] { 0, 1, 2, 3, 4, 5, 7 })
        {
            Result(report, index).GetProperty("passed").GetBoolean().ShouldBeFalse($"rule {index}");
        }

        var id = report.GetProperty("id").GetGuid();
        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/quality/reports/{id}"), HttpStatusCode.OK);
        read.GetProperty("results").GetArrayLength().ShouldBe(11);
        read.GetProperty("datasetRef").GetString().ShouldBe($"{name}@1");
        var html = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/quality/reports/{id}/html");
        html.StatusCode.ShouldBe(HttpStatusCode.OK);
        html.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        var page = await html.Content.ReadAsStringAsync();
        page.ShouldContain("FAILED");
        page.ShouldContain("score at most 1");
        page.ShouldContain("not-an-email");
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/quality/reports/{id}"), HttpStatusCode.NotFound);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.OtherProject}/quality/reports/{id}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_reports_of_several_versions_and_suites_When_listed_Then_filters_order_and_paging_hold(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (dataset, _) = await DatasetWith(api.Maintainer, api.Project, Planted, "listed");
        await Json(await Upload(api.Maintainer, api.Project, dataset, Encoding.UTF8.GetBytes(Clean)), HttpStatusCode.Created);
        var (other, _) = await DatasetWith(api.Maintainer, api.Project, Clean, "other");
        var strict = NewName("strict");
        await Json(await CreateSuite(api.Maintainer, api.Project, strict, AllRules), HttpStatusCode.Created);
        var loose = NewName("loose");
        await Json(await CreateSuite(api.Maintainer, api.Project, loose, new object[] { new { type = "row_count_between", min = 1 } }), HttpStatusCode.Created);
        var ids = new List<Guid>();
        foreach (var (version, suite) in new[] { ($"{dataset}@1", strict), ($"{dataset}@2", strict), ($"{dataset}@2", loose), ($"{other}@1", loose) })
        {
            ids.Add((await Json(await RunSuite(api.Maintainer, api.Project, version, suite), HttpStatusCode.Created)).GetProperty("id").GetGuid());
        }

        var root = $"/api/v1/projects/{api.Project}/quality/reports";
        async Task<List<Guid>> Ids(string filter) =>
            (await Json(await api.Viewer.GetAsync(root + filter), HttpStatusCode.OK)).GetProperty("items").EnumerateArray().Select(r => r.GetProperty("id").GetGuid()).ToList();

        // Newest first; a dataset or suite by name means all its versions.
        (await Ids($"?dataset={dataset}")).ShouldBe([ids[2], ids[1], ids[0]]);
        (await Ids($"?dataset={dataset}@2")).ShouldBe([ids[2], ids[1]]);
        (await Ids($"?suite={loose}")).ShouldBe([ids[3], ids[2]]);
        (await Ids($"?suite={strict}@1&dataset={dataset}")).ShouldBe([ids[1], ids[0]]);
        (await Ids($"?dataset={dataset}&passed=false")).ShouldBe([ids[0]]);
        (await Ids($"?dataset={dataset}&passed=true")).ShouldBe([ids[2], ids[1]]);
        (await Ids($"?dataset=none-{Guid.NewGuid():N}")).ShouldBeEmpty();
        var page = await Json(await api.Viewer.GetAsync($"{root}?dataset={dataset}&offset=1&limit=1"), HttpStatusCode.OK);
        page.GetProperty("total").GetInt32().ShouldBe(3);
        var item = page.GetProperty("items").EnumerateArray().Single();
        item.GetProperty("id").GetGuid().ShouldBe(ids[1]);
        item.GetProperty("datasetRef").GetString().ShouldBe($"{dataset}@2");
        item.GetProperty("suite").GetString().ShouldBe(strict);
        item.GetProperty("passed").GetBoolean().ShouldBeTrue();
        item.TryGetProperty("results", out _).ShouldBeFalse("a list carries no rule results");

        await Problem(await api.Viewer.GetAsync($"{root}?dataset=Not%20a%20name"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"{root}?suite={strict}@0"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"{root}?suite={new string('s', 3000)}"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"{root}?limit=500"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"{root}?passed=maybe"), HttpStatusCode.BadRequest);
        await Problem(await api.Outsider.GetAsync($"{root}?dataset={dataset}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_clean_data_When_the_same_suite_runs_Then_every_rule_passes_with_zero_failing_rows(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await DatasetWith(api.Maintainer, api.Project, Clean, "clean");
        var suite = NewName("all");
        await Json(await CreateSuite(api.Maintainer, api.Project, suite, AllRules[..10]), HttpStatusCode.Created);

        var report = await Json(await RunSuite(api.Maintainer, api.Project, name, suite), HttpStatusCode.Created);

        report.GetProperty("passed").GetBoolean().ShouldBeTrue(report.ToString());
        report.GetProperty("failedRules").GetInt32().ShouldBe(0);
        report.GetProperty("warnings").GetInt32().ShouldBe(0);
        foreach (var result in report.GetProperty("results").EnumerateArray())
        {
            result.GetProperty("passed").GetBoolean().ShouldBeTrue(result.ToString());
            result.GetProperty("failingRows").GetInt64().ShouldBe(0);
            result.GetProperty("sample").GetArrayLength().ShouldBe(0);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_rules_When_stored_or_run_Then_400_for_malformed_rules_and_422_for_unknown_columns_or_broken_expressions(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await DatasetWith(api.Maintainer, api.Project, Clean, "rules");

        var malformed = await Problem(await CreateSuite(api.Maintainer, api.Project, NewName("bad"), new object[]
        {
            new { type = "no_such_rule", column = "age" },
            new { type = "between", column = "age" },
            new { type = "not_null" },
            new { type = "in_set", column = "country", values = Array.Empty<string>() },
            new { type = "expression", expression = "1=1; DROP TABLE x" },
            new { type = "not_null", column = "age", mostly = 2 },
        }), HttpStatusCode.BadRequest);
        var errors = malformed.GetProperty("errors");
        errors.TryGetProperty("rules[0].type", out _).ShouldBeTrue(malformed.ToString());
        errors.TryGetProperty("rules[1]", out _).ShouldBeTrue(malformed.ToString());
        errors.TryGetProperty("rules[2].column", out _).ShouldBeTrue(malformed.ToString());
        errors.TryGetProperty("rules[3].values", out _).ShouldBeTrue(malformed.ToString());
        errors.TryGetProperty("rules[4].expression", out _).ShouldBeTrue(malformed.ToString());
        errors.TryGetProperty("rules[5].mostly", out _).ShouldBeTrue(malformed.ToString());

        var unknown = NewName("unknown");
        await Json(await CreateSuite(api.Maintainer, api.Project, unknown, new object[] { new { type = "not_null", column = "agee" }, new { type = "between", column = "country", min = 1 } }), HttpStatusCode.Created);
        var problem = await Problem(await RunSuite(api.Maintainer, api.Project, $"{name}@1", unknown), HttpStatusCode.UnprocessableEntity);
        problem.GetProperty("detail").GetString()!.ShouldContain("'agee'");
        problem.GetProperty("detail").GetString()!.ShouldContain("rules[1] (between) needs a numeric column");

        var broken = NewName("broken");
        await Json(await CreateSuite(api.Maintainer, api.Project, broken, new object[] { new { type = "not_null", column = "age" }, new { type = "expression", expression = "nosuch > 1" } }), HttpStatusCode.Created);
        var bad = await Problem(await RunSuite(api.Maintainer, api.Project, $"{name}@1", broken), HttpStatusCode.UnprocessableEntity);
        bad.GetProperty("detail").GetString()!.ShouldContain("rules[1] (expression)");
        bad.GetProperty("detail").GetString()!.ShouldContain("nosuch");

        var escape = NewName("escape");
        await Json(await CreateSuite(api.Maintainer, api.Project, escape, new object[] { new { type = "expression", expression = "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0" } }), HttpStatusCode.Created);
        (await Problem(await RunSuite(api.Maintainer, api.Project, $"{name}@1", escape), HttpStatusCode.UnprocessableEntity)).GetProperty("detail").GetString()!.ShouldContain("disabled");

        await Problem(await RunSuite(api.Maintainer, api.Project, $"{name}@9", unknown), HttpStatusCode.NotFound);
        await Problem(await RunSuite(api.Maintainer, api.Project, $"{name}@1", "nosuite"), HttpStatusCode.NotFound);
        await Problem(await RunSuite(api.Viewer, api.Project, $"{name}@1", unknown), HttpStatusCode.Forbidden);
        await Problem(await RunSuite(api.Outsider, api.OtherProject, $"{name}@1", unknown), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_profile_When_starter_suite_suggested_and_stored_twice_Then_it_passes_on_its_own_data_and_suites_are_versioned(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await DatasetWith(api.Maintainer, api.Project, Clean, "suggest");

        var suggestion = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions/1/suggested-suite"), HttpStatusCode.OK);
        var rules = suggestion.GetProperty("rules");
        rules.EnumerateArray().ShouldContain(r => r.GetProperty("type").GetString() == "not_null" && r.GetProperty("column").GetString() == "age");
        rules.EnumerateArray().ShouldContain(r => r.GetProperty("type").GetString() == "between" && r.GetProperty("column").GetString() == "age" && r.GetProperty("min").GetDouble() == 19);
        rules.EnumerateArray().ShouldContain(r => r.GetProperty("type").GetString() == "in_set" && r.GetProperty("column").GetString() == "country");
        var suite = NewName("starter");
        var v1 = await Json(await CreateSuite(api.Maintainer, api.Project, suite, rules), HttpStatusCode.Created);
        var v2 = await Json(await CreateSuite(api.Maintainer, api.Project, suite, new object[] { new { type = "row_count_between", min = 1000 } }), HttpStatusCode.Created);
        v1.GetProperty("version").GetInt32().ShouldBe(1);
        v2.GetProperty("version").GetInt32().ShouldBe(2);

        (await Json(await RunSuite(api.Maintainer, api.Project, $"{name}@1", $"{suite}@1"), HttpStatusCode.Created)).GetProperty("passed").GetBoolean().ShouldBeTrue();
        (await Json(await RunSuite(api.Maintainer, api.Project, $"{name}@1", suite), HttpStatusCode.Created)).GetProperty("passed").GetBoolean().ShouldBeFalse();
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/quality/suites/{suite}"), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(2);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/quality/suites/{suite}@1"), HttpStatusCode.OK)).GetProperty("rules").GetArrayLength().ShouldBe(rules.GetArrayLength());
    }
}
