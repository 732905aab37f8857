using System.Net;
using System.Text.Json.Nodes;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

public sealed class LineageTests(DataHostsFixture hosts) : IClassFixture<DataHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static bool Job(JsonObject e, string name) => e["job"]?["name"]?.GetValue<string>() == name;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_transform_and_validation_When_run_Then_OpenLineage_START_COMPLETE_with_dataset_and_quality_facets_reach_the_receiver(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (input, _) = await DatasetWith(api.Maintainer, api.Project, QualityTests.Planted, "ol");
        var output = NewName("olout");
        await Json(await Transform(api.Maintainer, api.Project, new { input = $"{input}@1", steps = new object[] { new { op = "filter", where = "age IS NOT NULL" } }, output }), HttpStatusCode.Created);
        var suite = NewName("olsuite");
        await Json(await CreateSuite(api.Maintainer, api.Project, suite, new object[] { new { type = "not_null", column = "age" }, new { type = "unique", column = "id" } }), HttpStatusCode.Created);
        await Json(await RunSuite(api.Maintainer, api.Project, $"{input}@1", suite), HttpStatusCode.Created);

        var transform = await hosts.Receiver.WaitForAsync(e => Job(e, $"data.transform.{output}"), 2);
        transform.Select(e => e["eventType"]!.GetValue<string>()).ShouldBe(["START", "COMPLETE"], ignoreOrder: true);
        var complete = transform.Single(e => e["eventType"]!.GetValue<string>() == "COMPLETE");
        complete["schemaURL"]!.GetValue<string>().ShouldContain("OpenLineage.json#/$defs/RunEvent");
        complete["producer"]!.GetValue<string>().ShouldStartWith("https://");
        Guid.TryParse(complete["run"]!["runId"]!.GetValue<string>(), out _).ShouldBeTrue();
        complete["job"]!["namespace"]!.GetValue<string>().ShouldBe($"mlplatform://{api.Project}");
        var inputDataset = complete["inputs"]![0]!;
        inputDataset["namespace"]!.GetValue<string>().ShouldBe("file");
        inputDataset["facets"]!["symlinks"]!["identifiers"]![0]!["name"]!.GetValue<string>().ShouldBe($"{input}@1");
        inputDataset["facets"]!["schema"]!["fields"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()).ShouldContain("age");
        inputDataset["facets"]!["schema"]!["_schemaURL"]!.GetValue<string>().ShouldContain("SchemaDatasetFacet.json");
        var outputDataset = complete["outputs"]![0]!;
        outputDataset["facets"]!["symlinks"]!["identifiers"]![0]!["name"]!.GetValue<string>().ShouldBe($"{output}@1");
        outputDataset["outputFacets"]!["outputStatistics"]!["rowCount"]!.GetValue<long>().ShouldBe(9);

        var validation = await hosts.Receiver.WaitForAsync(e => Job(e, $"data.validate.{suite}"), 2);
        var done = validation.Single(e => e["eventType"]!.GetValue<string>() == "COMPLETE");
        var facets = done["inputs"]![0]!["inputFacets"]!;
        var assertions = facets["dataQualityAssertions"]!["assertions"]!.AsArray();
        assertions.Count.ShouldBe(2);
        assertions.ShouldAllBe(a => a!["success"]!.GetValue<bool>() == false);
        assertions[0]!["column"]!.GetValue<string>().ShouldBe("age");
        facets["dataQualityMetrics"]!["rowCount"]!.GetValue<long>().ShouldBe(10);
        facets["dataQualityMetrics"]!["columnMetrics"]!["age"]!["nullCount"]!.GetValue<long>().ShouldBe(1);
        hosts.Receiver.ContentTypes.ShouldAllBe(t => t.StartsWith("application/json", StringComparison.Ordinal));

        var kept = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage/events?run={complete["run"]!["runId"]!.GetValue<string>()}"), HttpStatusCode.OK);
        kept.GetArrayLength().ShouldBe(2);
        kept[1].GetProperty("event").GetProperty("eventType").GetString().ShouldBe("COMPLETE");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_failing_transform_When_run_Then_a_FAIL_event_with_its_error_is_kept_and_delivered(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (input, _) = await DatasetWith(api.Maintainer, api.Project, QualityTests.Clean, "olfail");
        var output = NewName("never");
        await Problem(await Transform(api.Maintainer, api.Project, new { input, steps = new object[] { new { op = "select", columns = new[] { "missing" } } }, output }), HttpStatusCode.UnprocessableEntity);

        var events = await hosts.Receiver.WaitForAsync(e => Job(e, $"data.transform.{output}"), 2);
        events.Select(e => e["eventType"]!.GetValue<string>()).ShouldBe(["START", "FAIL"], ignoreOrder: true);
        var fail = events.Single(e => e["eventType"]!.GetValue<string>() == "FAIL");
        fail["run"]!["facets"]!["errorMessage"]!["message"]!.GetValue<string>().ShouldContain("'missing'");
        fail["outputs"]!.AsArray().Count.ShouldBe(0);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_lineage_queries_When_the_start_is_unknown_or_ambiguous_Then_404_or_400(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (input, _) = await DatasetWith(api.Maintainer, api.Project, QualityTests.Clean, "lq");
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={input}@5"), HttpStatusCode.NotFound);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?run={Guid.NewGuid()}"), HttpStatusCode.NotFound);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={input}@1&run={Guid.NewGuid()}"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage"), HttpStatusCode.BadRequest);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={input}@1&direction=sideways"), HttpStatusCode.BadRequest);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={input}@1"), HttpStatusCode.NotFound);
        var graph = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={input}@1"), HttpStatusCode.OK);
        graph.GetProperty("root").GetString().ShouldBe($"dataset:{input}@1");
    }
}
