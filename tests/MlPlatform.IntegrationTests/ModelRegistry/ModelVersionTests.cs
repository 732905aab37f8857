using System.Net;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

public sealed class ModelVersionTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<(string Name, Guid Id)> NewModel(WorkflowTestAccounts api)
    {
        var name = NewName("v");
        var created = await Json(await CreateModel(api.Maintainer, api.Project, name), HttpStatusCode.Created);
        return (name, created.GetProperty("id").GetGuid());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_ONNX_file_as_multipart_When_uploaded_Then_version_1_pending_with_signature_hash_metadata_and_metrics(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await NewModel(api);
        var bytes = Model();

        var response = await UploadMultipart(api.Maintainer, api.Project, name, bytes, metrics: """{"auc": 0.91, "loss": 0.2}""", parameters: """{"lr": 0.1, "solver": "sdca"}""");

        var version = await Json(response, HttpStatusCode.Created);
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/projects/{api.Project}/models/{name}/versions/1");
        version.GetProperty("version").GetInt32().ShouldBe(1);
        version.GetProperty("status").GetString().ShouldBe("pending");
        version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(bytes)));
        version.GetProperty("sizeBytes").GetInt64().ShouldBe(bytes.Length);
        version.GetProperty("description").GetString().ShouldBe("uploaded by a test");
        var input = version.GetProperty("signature").GetProperty("inputs")[0];
        input.GetProperty("name").GetString().ShouldBe("x");
        input.GetProperty("elementType").GetString().ShouldBe("float");
        input.GetProperty("shape").GetRawText().ShouldBe("""["N",3]""");
        var output = version.GetProperty("signature").GetProperty("outputs")[0];
        output.GetProperty("name").GetString().ShouldBe("y");
        output.GetProperty("shape").GetRawText().ShouldBe("""["N",1]""");
        version.GetProperty("metadata").GetProperty("producerName").GetString().ShouldBe("mlplatform-tests");
        version.GetProperty("metadata").GetProperty("graphName").GetString().ShouldBe("logreg");
        version.GetProperty("metadata").GetProperty("custom").GetProperty("team").GetString().ShouldBe("risk");
        version.GetProperty("metrics").GetProperty("auc").GetDouble().ShouldBe(0.91);
        version.GetProperty("params").GetProperty("solver").GetString().ShouldBe("sdca");

        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1"), HttpStatusCode.OK);
        read.GetProperty("sha256").GetString().ShouldBe(version.GetProperty("sha256").GetString());
        read.GetProperty("signature").GetRawText().ShouldBe(version.GetProperty("signature").GetRawText());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_uploaded_version_When_downloaded_Then_identical_bytes_as_octet_stream(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await NewModel(api);
        var bytes = Model(1.5f);
        await Json(await UploadRaw(api.Maintainer, api.Project, name, bytes), HttpStatusCode.Created);

        var response = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/artifact");

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        response.Content.Headers.ContentType!.MediaType.ShouldBe("application/octet-stream");
        (await response.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/2/artifact"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_several_uploads_When_listed_Then_numbered_1_to_n_newest_first(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await NewModel(api);
        for (var i = 0; i < 3; i++)
        {
            await Json(await UploadRaw(api.Maintainer, api.Project, name, Model(i)), HttpStatusCode.Created);
        }

        var page = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions?limit=2"), HttpStatusCode.OK);

        page.GetProperty("total").GetInt32().ShouldBe(3);
        page.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()).ShouldBe([3, 2]);
        var model = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}"), HttpStatusCode.OK);
        model.GetProperty("latestVersion").GetInt32().ShouldBe(3);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_concurrent_uploads_When_all_finish_Then_each_got_a_distinct_number(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await NewModel(api);

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i => UploadRaw(api.Maintainer, api.Project, name, Model(i))));

        var numbers = new List<int>();
        foreach (var response in responses)
        {
            numbers.Add((await Json(response, HttpStatusCode.Created)).GetProperty("version").GetInt32());
        }

        numbers.Order().ShouldBe([1, 2, 3, 4, 5, 6]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_file_ONNX_Runtime_cannot_load_When_uploaded_Then_422_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, id) = await NewModel(api);
        var truncated = Model()[..100];

        await Problem(await UploadMultipart(api.Maintainer, api.Project, name, truncated), HttpStatusCode.UnprocessableEntity);
        var refused = await Problem(await UploadRaw(api.Maintainer, api.Project, name, "not a model at all"u8.ToArray()), HttpStatusCode.UnprocessableEntity);
        // ORT's reason is passed on, without the server's temporary folder in it.
        var detail = refused.GetProperty("detail").GetString()!;
        detail.ShouldContain("Protobuf parsing failed");
        detail.ShouldNotContain(Path.GetTempPath());
        detail.ShouldNotContain("mlp-upload-");

        var versions = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions"), HttpStatusCode.OK);
        versions.GetProperty("total").GetInt32().ShouldBe(0);
        (await StoredKeys(api.Factory, id)).ShouldBeEmpty();
        // The number was not spent either: the next good upload is version 1.
        (await Json(await UploadRaw(api.Maintainer, api.Project, name, Model()), HttpStatusCode.Created)).GetProperty("version").GetInt32().ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_empty_missing_or_mistyped_file_When_uploaded_Then_400_or_415_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, id) = await NewModel(api);

        await Problem(await UploadRaw(api.Maintainer, api.Project, name, []), HttpStatusCode.BadRequest);
        await Problem(await UploadMultipart(api.Maintainer, api.Project, name, []), HttpStatusCode.BadRequest);
        using (var noFile = new MultipartFormDataContent { { new StringContent("x"), "description" } })
        {
            await Problem(await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/models/{name}/versions", noFile), HttpStatusCode.BadRequest);
        }

        await Problem(await UploadRaw(api.Maintainer, api.Project, name, Model(), "text/plain"), HttpStatusCode.UnsupportedMediaType);
        await Problem(await UploadMultipart(api.Maintainer, api.Project, name, Model(), metrics: """{"auc": "high"}"""), HttpStatusCode.BadRequest);

        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions"), HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(0);
        (await StoredKeys(api.Factory, id)).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_file_over_the_limit_When_uploaded_Then_413_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, id) = await NewModel(api);
        var oversized = new byte[ModelRegistryHostsFixture.MaxUploadBytes + 1];

        await Problem(await UploadRaw(api.Maintainer, api.Project, name, oversized), HttpStatusCode.RequestEntityTooLarge);
        await Problem(await UploadMultipart(api.Maintainer, api.Project, name, oversized), HttpStatusCode.RequestEntityTooLarge);

        (await StoredKeys(api.Factory, id)).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_viewer_or_other_project_When_uploading_Then_403_or_404(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, id) = await NewModel(api);

        await Problem(await UploadRaw(api.Viewer, api.Project, name, Model()), HttpStatusCode.Forbidden);
        await Problem(await UploadRaw(api.Outsider, api.Project, name, Model()), HttpStatusCode.NotFound);
        await Problem(await UploadRaw(api.Maintainer, api.Project, NewName("missing"), Model()), HttpStatusCode.NotFound);

        (await StoredKeys(api.Factory, id)).ShouldBeEmpty();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_upload_When_committed_Then_ModelVersionRegistered_is_in_the_outbox(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await NewModel(api);
        await Json(await UploadRaw(api.Maintainer, api.Project, name, Model()), HttpStatusCode.Created);

        using var scope = api.Factory.Services.CreateScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>();
        var payloads = await db.OutboxMessages.Where(m => m.Type.EndsWith(".ModelVersionRegistered")).Select(m => m.Payload).ToListAsync();
        payloads.ShouldContain(p => p.Contains($"\"model\":\"{name}\"", StringComparison.Ordinal) && p.Contains("\"version\":1", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_lineage_with_the_upload_When_read_Then_recorded_and_bad_lineage_is_400(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (name, _) = await NewModel(api);
        await Json(await UploadRaw(api.Maintainer, api.Project, name, Model()), HttpStatusCode.Created);
        const string lineage = """{"workflowRun": "run-42", "step": "train", "codeVersion": "abc123", "datasets": ["churn@3"], "parentVersion": 1}""";

        var version = await Json(await UploadWithLineage(api, name, lineage), HttpStatusCode.Created);

        var recorded = version.GetProperty("lineage");
        recorded.GetProperty("workflowRun").GetString().ShouldBe("run-42");
        recorded.GetProperty("step").GetString().ShouldBe("train");
        recorded.GetProperty("codeVersion").GetString().ShouldBe("abc123");
        recorded.GetProperty("datasets")[0].GetString().ShouldBe("churn@3");
        recorded.GetProperty("parentVersion").GetInt32().ShouldBe(1);

        await Problem(await UploadWithLineage(api, name, """{"parentVersion": 9}"""), HttpStatusCode.BadRequest);
        await Problem(await UploadWithLineage(api, name, """{"workflowrun": "typo"}"""), HttpStatusCode.BadRequest);
        await Problem(await UploadWithLineage(api, name, """{"datasets": "churn@3"}"""), HttpStatusCode.BadRequest);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions"), HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(2);

        var child = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/2/lineage"), HttpStatusCode.OK);
        child.GetProperty("upstream").GetProperty("workflowRun").GetString().ShouldBe("run-42");
        var parent = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/lineage"), HttpStatusCode.OK);
        parent.GetProperty("childVersions").EnumerateArray().Select(v => v.GetInt32()).ShouldBe([2]);
    }

    private static Task<HttpResponseMessage> UploadWithLineage(WorkflowTestAccounts api, string name, string lineage)
    {
        var form = new MultipartFormDataContent { { new StringContent(lineage), "lineage" }, { new ByteArrayContent(Model(2f)), "file", "model.onnx" } };
        return api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/models/{name}/versions", form);
    }
}
