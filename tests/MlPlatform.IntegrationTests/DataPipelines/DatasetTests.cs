using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Engine;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

public sealed class DatasetTests(DataHostsFixture hosts) : IClassFixture<DataHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private const string Csv = "id,amount,city,active\n1,10.5,Paris,true\n2,20,Berlin,false\n3,,Paris,true\n4,40.25,\"Rome, IT\",true\n5,55,Paris,false\n";

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_CSV_When_uploaded_twice_Then_one_version_by_content_hash_with_inferred_schema_and_profile_and_one_event(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("dedup");
        var dataset = await Json(await CreateDataset(api.Maintainer, api.Project, name), HttpStatusCode.Created);
        var bytes = Encoding.UTF8.GetBytes(Csv);

        var first = await Upload(api.Maintainer, api.Project, name, bytes);
        var version = await Json(first, HttpStatusCode.Created);
        var again = await Json(await UploadMultipart(api.Maintainer, api.Project, name, bytes, "same.csv"), HttpStatusCode.OK);

        version.GetProperty("version").GetInt32().ShouldBe(1);
        version.GetProperty("ref").GetString().ShouldBe($"{name}@1");
        version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(bytes)));
        again.GetProperty("id").GetGuid().ShouldBe(version.GetProperty("id").GetGuid());
        again.GetProperty("version").GetInt32().ShouldBe(1);
        first.Headers.Location!.ToString().ShouldBe($"/api/v1/projects/{api.Project}/datasets/{name}/versions/1");
        (await StoredKeys(api.Factory, "datasets/")).Count(k => k.Contains(dataset.GetProperty("id").GetGuid().ToString("N"), StringComparison.Ordinal)).ShouldBe(1);

        var schema = version.GetProperty("schema").EnumerateArray().Select(c => $"{c.GetProperty("name").GetString()}:{c.GetProperty("type").GetString()}").ToList();
        schema.ShouldBe(["id:integer", "amount:number", "city:string", "active:boolean"]);
        version.GetProperty("rows").GetInt64().ShouldBe(5);
        var profile = version.GetProperty("profile");
        profile.GetProperty("rows").GetInt64().ShouldBe(5);
        var amount = Column(version, "amount");
        amount.GetProperty("nulls").GetInt64().ShouldBe(1);
        amount.GetProperty("min").GetDouble().ShouldBe(10.5);
        amount.GetProperty("max").GetDouble().ShouldBe(55);
        amount.GetProperty("mean").GetDouble().ShouldBe((10.5 + 20 + 40.25 + 55) / 4, 1e-9);
        amount.GetProperty("stddev").GetDouble().ShouldBeGreaterThan(0);
        amount.GetProperty("quantiles").GetProperty("0.5").ValueKind.ShouldBe(System.Text.Json.JsonValueKind.Number);
        amount.GetProperty("histogram").EnumerateArray().Sum(b => b.GetProperty("count").GetInt64()).ShouldBe(4);
        amount.GetProperty("histogram").GetArrayLength().ShouldBe(10);
        var city = Column(version, "city");
        city.GetProperty("distinct").GetInt64().ShouldBe(3);
        city.GetProperty("top")[0].GetProperty("value").GetString().ShouldBe("Paris");
        city.GetProperty("top")[0].GetProperty("count").GetInt64().ShouldBe(3);
        city.GetProperty("min").GetString().ShouldBe("Berlin");

        var download = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions/1/content");
        download.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);

        var log = api.Factory.Services.GetRequiredService<DatasetEventLog>();
        var until = DateTime.UtcNow.AddSeconds(10);
        while (!log.Events.Any(e => e.Dataset == name) && DateTime.UtcNow < until)
        {
            await Task.Delay(50);
        }

        await Task.Delay(300);
        var events = log.Events.Where(e => e.Dataset == name).ToList();
        events.Count.ShouldBe(1);
        events[0].Version.ShouldBe(1);
        events[0].Sha256.ShouldBe(version.GetProperty("sha256").GetString());
        events[0].Rows.ShouldBe(5);
        events[0].Project.ShouldBe(api.Project);

        var second = await Json(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes(Csv + "6,1,Oslo,true\n")), HttpStatusCode.Created);
        second.GetProperty("version").GetInt32().ShouldBe(2);
        var list = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions"), HttpStatusCode.OK);
        list.GetProperty("total").GetInt32().ShouldBe(2);
        list.GetProperty("items")[0].GetProperty("version").GetInt32().ShouldBe(2);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_Parquet_and_JSON_lines_When_uploaded_Then_versions_with_their_schema(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("formats");
        await Json(await CreateDataset(api.Maintainer, api.Project, name), HttpStatusCode.Created);

        var jsonl = await Json(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("{\"x\": 1, \"label\": \"a\"}\n{\"x\": 2, \"label\": \"b\"}\n{\"x\": 3, \"label\": null}\n"), "application/x-ndjson"), HttpStatusCode.Created);
        jsonl.GetProperty("format").GetString().ShouldBe("jsonl");
        jsonl.GetProperty("rows").GetInt64().ShouldBe(3);
        Column(jsonl, "label").GetProperty("nulls").GetInt64().ShouldBe(1);

        var parquet = Parquet("SELECT i AS x, 'v' || i AS label FROM range(1, 8) t(i)");
        var stored = await Json(await UploadMultipart(api.Maintainer, api.Project, name, parquet, "data.parquet"), HttpStatusCode.Created);
        stored.GetProperty("format").GetString().ShouldBe("parquet");
        stored.GetProperty("rows").GetInt64().ShouldBe(7);
        Column(stored, "x").GetProperty("max").GetDouble().ShouldBe(7);
        stored.GetProperty("artifactKey").GetString()!.ShouldEndWith(".parquet");
    }

    /// <summary>A Parquet file written by the engine itself.</summary>
    internal static byte[] Parquet(string query)
    {
        using var session = DataSession.Open();
        var path = session.PathFor("out.parquet");
        session.Execute($"COPY ({query}) TO {DataSession.Literal(path)} (FORMAT PARQUET)");
        return File.ReadAllBytes(path);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_files_When_uploaded_Then_clear_400_422_413_naming_the_line_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("bad");
        var dataset = await Json(await CreateDataset(api.Maintainer, api.Project, name), HttpStatusCode.Created);

        var ragged = await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("a,b,c\n1,2,3\n4,5\n6,7,8\n")), HttpStatusCode.UnprocessableEntity);
        ragged.GetProperty("detail").GetString()!.ShouldContain("Line 3");
        ragged.GetProperty("detail").GetString()!.ShouldContain("ragged");

        byte[] latin1 = [.. "a,b\n1,x\n2,"u8, 0xE9, 0xFF, (byte)'\n'];
        var encoding = await Problem(await Upload(api.Maintainer, api.Project, name, latin1), HttpStatusCode.UnprocessableEntity);
        encoding.GetProperty("detail").GetString()!.ShouldContain("Line 3");
        encoding.GetProperty("detail").GetString()!.ShouldContain("UTF-8");

        (await Problem(await Upload(api.Maintainer, api.Project, name, []), HttpStatusCode.BadRequest)).GetProperty("detail").GetString()!.ShouldContain("empty");
        (await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("a,b\n")), HttpStatusCode.UnprocessableEntity)).GetProperty("detail").GetString()!.ShouldContain("no rows");

        var notParquet = await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("a,b\n1,2\n3,4\n5,6\n"), "application/vnd.apache.parquet"), HttpStatusCode.UnprocessableEntity);
        notParquet.GetProperty("detail").GetString()!.ShouldContain("not Parquet");

        var badJson = await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("{\"a\": 1}\n{\"a\": 2}\n{\"a\": \n"), "application/x-ndjson"), HttpStatusCode.UnprocessableEntity);
        badJson.GetProperty("detail").GetString()!.ShouldContain("line");

        var huge = new byte[DataHostsFixture.MaxUploadBytes + 10];
        await Problem(await Upload(api.Maintainer, api.Project, name, huge), HttpStatusCode.RequestEntityTooLarge);

        await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("a\n1\n"), "application/pdf"), HttpStatusCode.UnsupportedMediaType);

        var versions = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions"), HttpStatusCode.OK);
        versions.GetProperty("total").GetInt32().ShouldBe(0);
        (await StoredKeys(api.Factory, "datasets/")).ShouldNotContain(k => k.Contains(dataset.GetProperty("id").GetGuid().ToString("N"), StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_declared_schema_When_files_uploaded_Then_conforming_file_takes_the_declared_types_and_others_are_422_naming_line_and_column(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("declared");
        var schema = new[] { new { name = "id", type = "integer" }, new { name = "score", type = "number" }, new { name = "code", type = "string" } };
        await Json(await CreateDataset(api.Maintainer, api.Project, name, schema), HttpStatusCode.Created);

        // "code" looks numeric, but the declared type (string) wins; "score" holds integers but is a number.
        var version = await Json(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("id,score,code\n1,2,007\n2,3,008\n")), HttpStatusCode.Created);
        version.GetProperty("schema").EnumerateArray().Select(c => c.GetProperty("type").GetString()).ShouldBe(["integer", "number", "string"]);
        Column(version, "code").GetProperty("min").GetString().ShouldBe("007");

        var wrongType = await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("id,score,code\n1,2.5,a\n2,high,b\n")), HttpStatusCode.UnprocessableEntity);
        wrongType.GetProperty("detail").GetString()!.ShouldContain("Line 3, column 'score'");
        var missing = await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("id,score\n1,2\n")), HttpStatusCode.UnprocessableEntity);
        missing.GetProperty("detail").GetString()!.ShouldContain("'code'");
        var extra = await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("id,score,code,more\n1,2,x,y\n")), HttpStatusCode.UnprocessableEntity);
        extra.GetProperty("detail").GetString()!.ShouldContain("'more'");

        await Problem(await CreateDataset(api.Maintainer, api.Project, NewName("badschema"), new[] { new { name = "x", type = "complex" } }), HttpStatusCode.BadRequest);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions"), HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_JSON_bodies_a_parser_accepts_but_cannot_read_When_sent_Then_400_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (dataset, _) = await DatasetWith(api.Maintainer, api.Project, Csv);
        async Task<HttpResponseMessage> Send(string path, byte[] body)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
            return await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/{path}", content);
        }

        // A byte that no UTF-8 text has there (0xB5 alone), and an escaped half of a surrogate pair:
        // both parse as JSON and fail only when the string is read, which used to answer 500.
        static byte[] Broken(string json) => [.. Encoding.UTF8.GetBytes(json).Select(b => b == (byte)'~' ? (byte)0xB5 : b)];
        var suite = NewName("suite");
        var output = NewName("out");
        var bodies = new (string Path, byte[] Body)[]
        {
            ("quality/suites", Broken($$"""{"name":"{{suite}}","rules":[{"type":"not_null","column":"id","mos~ly":0.9}]}""")),
            ("quality/suites", Encoding.UTF8.GetBytes($$"""{"name":"{{suite}}","rules":[{"type":"not_null","column":"i\ud800d"}]}""")),
            ("transforms", Broken($$"""{"input":"{{dataset}}@1","steps":[{"op":"filter","where":"amount > 1"}],"output":"{{output}}~"}""")),
            ("transforms", Encoding.UTF8.GetBytes($$"""{"input":"{{dataset}}@1","steps":[{"op":"filter","where":"amount > 1"}],"output":"{{output}}\udc00"}""")),
        };
        foreach (var (path, body) in bodies)
        {
            (await Problem(await Send(path, body), HttpStatusCode.BadRequest)).GetProperty("detail").GetString()!.ShouldContain("UTF-8 or Unicode");
        }

        // A declared schema with a null where a column belongs.
        var schema = await Problem(await Send("datasets", Encoding.UTF8.GetBytes($$"""{"name":"{{NewName("nulls")}}","schema":[{"name":"age","type":"integer"},null]}""")), HttpStatusCode.BadRequest);
        schema.GetRawText().ShouldContain("Every column");

        (await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/quality/suites/{suite}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{output}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_callers_without_rights_When_they_touch_datasets_Then_403_for_viewer_writes_and_404_for_outsiders(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await DatasetWith(api.Maintainer, api.Project, Csv);

        await Problem(await Upload(api.Viewer, api.Project, name, Encoding.UTF8.GetBytes("a\n1\n")), HttpStatusCode.Forbidden);
        await Problem(await CreateDataset(api.Viewer, api.Project, NewName("v")), HttpStatusCode.Forbidden);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}"), HttpStatusCode.NotFound);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions/1/content"), HttpStatusCode.NotFound);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.OtherProject}/datasets/{name}"), HttpStatusCode.NotFound);
        (await api.Anonymous.GetAsync($"/api/v1/projects/{api.Project}/datasets")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        await Problem(await CreateDataset(api.Maintainer, api.Project, name), HttpStatusCode.Conflict);
        await Problem(await CreateDataset(api.Maintainer, api.Project, "Bad Name!"), HttpStatusCode.BadRequest);
        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions/9"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_object_in_the_store_When_ingested_Then_version_from_it_and_other_projects_objects_are_404(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("ingest");
        await Json(await CreateDataset(api.Maintainer, api.Project, name), HttpStatusCode.Created);
        var store = api.Factory.Services.GetRequiredService<MlPlatform.SharedKernel.Storage.IObjectStore>();
        var bytes = Encoding.UTF8.GetBytes(Csv);
        await store.PutAsync($"projects/{api.Project}/raw/{name}.csv", new MemoryStream(bytes));
        await store.PutAsync($"projects/{api.OtherProject}/secret.csv", new MemoryStream(bytes));

        var version = await Json(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/datasets/{name}/ingest", new { source = $"projects/{api.Project}/raw/{name}.csv" }), HttpStatusCode.Created);
        version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(bytes)));
        version.GetProperty("origin").GetProperty("kind").GetString().ShouldBe("ingest");
        (await Json(await Upload(api.Maintainer, api.Project, name, bytes), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);

        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/datasets/{name}/ingest", new { source = $"projects/{api.OtherProject}/secret.csv" }), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/datasets/{name}/ingest", new { source = $"projects/{api.Project}/nothing.csv" }), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/datasets/{name}/ingest", new { source = "../etc/passwd.csv" }), HttpStatusCode.BadRequest);
    }
}
