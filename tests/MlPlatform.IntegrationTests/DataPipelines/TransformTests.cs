using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

public sealed class TransformTests(DataHostsFixture hosts) : IClassFixture<DataHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<string> Content(HttpClient client, string project, JsonElement version) =>
        await client.GetStringAsync($"/api/v1/projects/{project}/datasets/{version.GetProperty("dataset").GetString()}/versions/{version.GetProperty("version").GetInt32()}/content");

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_filter_derive_select_rename_When_transformed_Then_new_CSV_version_with_exactly_those_rows_and_lineage_to_its_input(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (input, _) = await DatasetWith(api.Maintainer, api.Project, "id,age,country,score\n1,34,FR,0.5\n2,22,DE,0.7\n3,29,FR,0.9\n", "people");
        var output = NewName("fr");
        var spec = new
        {
            input = $"{input}@1",
            steps = new object[]
            {
                new { op = "filter", where = "country = 'FR'" },
                new { op = "derive", column = "age2", expression = "age * 2" },
                new { op = "select", columns = new[] { "id", "age2" } },
                new { op = "rename", columns = new Dictionary<string, string> { ["age2"] = "double_age" } },
            },
            output,
        };

        var version = await Json(await Transform(api.Maintainer, api.Project, spec), HttpStatusCode.Created);

        version.GetProperty("ref").GetString().ShouldBe($"{output}@1");
        version.GetProperty("format").GetString().ShouldBe("csv");
        version.GetProperty("artifactKey").GetString()!.ShouldEndWith(".csv");
        (await Content(api.Viewer, api.Project, version)).ShouldBe("id,double_age\n1,68\n3,58\n");
        version.GetProperty("origin").GetProperty("kind").GetString().ShouldBe("transform");
        version.GetProperty("origin").GetProperty("inputs")[0].GetString().ShouldBe($"{input}@1");
        version.GetProperty("producedByRun").ValueKind.ShouldBe(JsonValueKind.String);

        // The same spec on the same input writes the same bytes: the same version, nothing new.
        var again = await Json(await Transform(api.Maintainer, api.Project, spec), HttpStatusCode.OK);
        again.GetProperty("version").GetInt32().ShouldBe(1);

        var upstream = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={output}@1&direction=upstream"), HttpStatusCode.OK);
        var nodes = upstream.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ToList();
        nodes.ShouldContain($"dataset:{input}@1");
        nodes.ShouldContain($"run:{version.GetProperty("producedByRun").GetString()}");
        nodes.ShouldContain(n => n!.StartsWith("file:sha256:", StringComparison.Ordinal));
        upstream.GetProperty("edges").EnumerateArray().ShouldContain(e => e.GetProperty("from").GetString() == $"dataset:{input}@1");

        var downstream = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={input}@1&direction=downstream"), HttpStatusCode.OK);
        downstream.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ShouldContain($"dataset:{output}@1");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_join_and_deduplicate_When_transformed_Then_duplicates_dropped_and_columns_joined_inner_or_left(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (orders, _) = await DatasetWith(api.Maintainer, api.Project, "order_id,customer_id,amount\n1,10,5\n2,11,7\n2,11,7\n3,12,9\n", "orders");
        var (customers, _) = await DatasetWith(api.Maintainer, api.Project, "customer_id,name\n10,Ann\n11,Bob\n", "customers");

        var inner = await Json(await Transform(api.Maintainer, api.Project, new
        {
            input = $"{orders}@1",
            steps = new object[] { new { op = "deduplicate" }, new { op = "join", with = $"{customers}@1", on = new[] { "customer_id" } } },
            output = NewName("inner"),
        }), HttpStatusCode.Created);
        (await Content(api.Viewer, api.Project, inner)).ShouldBe("order_id,customer_id,amount,name\n1,10,5,Ann\n2,11,7,Bob\n");
        inner.GetProperty("origin").GetProperty("inputs").EnumerateArray().Select(i => i.GetString()).ShouldBe([$"{orders}@1", $"{customers}@1"]);

        var left = await Json(await Transform(api.Maintainer, api.Project, new
        {
            input = $"{orders}@1",
            steps = new object[] { new { op = "deduplicate", columns = new[] { "order_id" } }, new { op = "join", with = customers, on = new[] { "customer_id" }, how = "left" } },
            output = NewName("left"),
        }), HttpStatusCode.Created);
        (await Content(api.Viewer, api.Project, left)).ShouldBe("order_id,customer_id,amount,name\n1,10,5,Ann\n2,11,7,Bob\n3,12,9,\n");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_seeded_sample_and_split_When_repeated_Then_same_versions_and_another_seed_differs(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var csv = new StringBuilder("id,x\n");
        for (var i = 1; i <= 200; i++)
        {
            csv.Append(i).Append(',').Append(i * 3 % 17).Append('\n');
        }

        var (input, _) = await DatasetWith(api.Maintainer, api.Project, csv.ToString(), "rows");
        var sampled = NewName("sample");
        var rows = await Json(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "sample", rows = 20, seed = 1 } }, output = sampled }), HttpStatusCode.Created);
        rows.GetProperty("rows").GetInt64().ShouldBe(20);
        (await Json(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "sample", rows = 20, seed = 1 } }, output = sampled }), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);
        var fraction = await Json(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "sample", fraction = 0.5, seed = 3 } }, output = sampled }), HttpStatusCode.Created);
        fraction.GetProperty("rows").GetInt64().ShouldBeInRange(60, 140);

        async Task<JsonElement> Split(long seed, HttpStatusCode expected = HttpStatusCode.OK) =>
            await Json(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/splits", new { dataset = $"{input}@1", testFraction = 0.25, seed }), expected);

        var first = await Split(7);
        var second = await Split(7);
        var other = await Split(8);
        first.GetProperty("train").GetProperty("ref").GetString().ShouldBe($"{input}-train@1");
        first.GetProperty("test").GetProperty("ref").GetString().ShouldBe($"{input}-test@1");
        second.GetProperty("train").GetProperty("sha256").GetString().ShouldBe(first.GetProperty("train").GetProperty("sha256").GetString());
        second.GetProperty("test").GetProperty("version").GetInt32().ShouldBe(1);
        (first.GetProperty("train").GetProperty("rows").GetInt64() + first.GetProperty("test").GetProperty("rows").GetInt64()).ShouldBe(200);
        first.GetProperty("test").GetProperty("rows").GetInt64().ShouldBeInRange(25, 80);
        other.GetProperty("test").GetProperty("sha256").GetString().ShouldNotBe(first.GetProperty("test").GetProperty("sha256").GetString());
        other.GetProperty("test").GetProperty("version").GetInt32().ShouldBe(2);

        var train = await api.Viewer.GetStringAsync($"/api/v1/projects/{api.Project}/datasets/{input}-train/versions/1/content");
        var test = await api.Viewer.GetStringAsync($"/api/v1/projects/{api.Project}/datasets/{input}-test/versions/1/content");
        var trainIds = train.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')[0]).ToHashSet();
        var testIds = test.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(l => l.Split(',')[0]).ToHashSet();
        trainIds.Overlaps(testIds).ShouldBeFalse();
        (trainIds.Count + testIds.Count).ShouldBe(200);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_transforms_When_run_Then_400_for_malformed_specs_and_422_naming_missing_columns_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (input, _) = await DatasetWith(api.Maintainer, api.Project, "id,age\n1,34\n2,22\n", "badtx");
        var output = NewName("out");

        var missing = await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "select", columns = new[] { "id", "agee" } } }, output }), HttpStatusCode.UnprocessableEntity);
        missing.GetProperty("detail").GetString()!.ShouldContain("'agee'");
        missing.GetProperty("detail").GetString()!.ShouldContain("steps[0]");
        var badFilter = await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "filter", where = "height > 3" } }, output }), HttpStatusCode.UnprocessableEntity);
        badFilter.GetProperty("detail").GetString()!.ShouldContain("height");
        await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "pivot" } }, output }), HttpStatusCode.BadRequest);
        await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = Array.Empty<object>(), output }), HttpStatusCode.BadRequest);
        await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "filter", where = "1=1; DROP TABLE t0" } }, output }), HttpStatusCode.BadRequest);
        await Problem(await Transform(api.Maintainer, api.Project, new { input = "nothere@1", steps = new object[] { new { op = "deduplicate" } }, output }), HttpStatusCode.NotFound);
        await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "filter", where = "age > 100" } }, output }), HttpStatusCode.UnprocessableEntity);
        await Problem(await Transform(api.Viewer, api.Project, new { input, steps = new object[] { new { op = "deduplicate" } }, output }), HttpStatusCode.Forbidden);
        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/splits", new { dataset = $"{input}@1", testFraction = 1.5 }), HttpStatusCode.BadRequest);

        var versions = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{output}/versions");
        if (versions.StatusCode == HttpStatusCode.OK)
        {
            (await Json(versions, HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(0);
        }
    }
}
