using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>Registering from the artifact store, archiving, lineage both ways, recorded metrics and the lookup cache.</summary>
public sealed class RegistryLifecycleTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static async Task<Guid> ProjectId(WorkflowTestAccounts api) =>
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}"), HttpStatusCode.OK)).GetProperty("id").GetGuid();

    private static Task<HttpResponseMessage> RegisterFromStore(HttpClient client, string project, string name, object body) =>
        client.PostAsJsonAsync($"/api/v1/projects/{project}/models/{name}/versions", body);

    private static Task<HttpResponseMessage> Move(HttpClient client, string project, string name, string alias, int version) =>
        client.PutAsJsonAsync($"/api/v1/projects/{project}/models/{name}/aliases/{alias}", new { version });

    private static Task<HttpResponseMessage> Archive(HttpClient client, string project, string name, int version) =>
        client.PostAsync($"/api/v1/projects/{project}/models/{name}/versions/{version}/archive", null);

    private static async Task<Guid> ModelId(WorkflowTestAccounts api, string name) =>
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}"), HttpStatusCode.OK)).GetProperty("id").GetGuid();

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_object_in_the_store_When_registered_by_key_Then_hashed_signed_copied_under_the_registry_and_the_source_kept_in_lineage(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var projectId = await ProjectId(api);
        var store = api.Factory.Services.GetRequiredService<IObjectStore>();
        var bytes = Model(3f);
        var key = $"projects/{projectId:N}/exports/{Guid.NewGuid():N}/model.onnx";
        await store.PutAsync(key, new MemoryStream(bytes));
        var name = await ModelWithVersions(api.Maintainer, api.Project, 0);

        var response = await RegisterFromStore(api.Maintainer, api.Project, name, new
        {
            artifact = key,
            description = "from the store",
            metrics = new { auc = 0.88 },
            lineage = new { codeVersion = "c0ffee", datasets = new[] { "churn@7" } },
        });

        var version = await Json(response, HttpStatusCode.Created);
        version.GetProperty("version").GetInt32().ShouldBe(1);
        version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(bytes)));
        version.GetProperty("sizeBytes").GetInt64().ShouldBe(bytes.Length);
        version.GetProperty("signature").GetProperty("inputs")[0].GetProperty("name").GetString().ShouldBe("x");
        version.GetProperty("metrics").GetProperty("auc").GetDouble().ShouldBe(0.88);
        version.GetProperty("metricSources").GetProperty("auc").GetString().ShouldBe("upload");
        version.GetProperty("lineage").GetProperty("sourceArtifact").GetString().ShouldBe(key);
        version.GetProperty("lineage").GetProperty("datasets")[0].GetString().ShouldBe("churn@7");
        // Copied: the registry's object is its own, so overwriting the source cannot change what was registered.
        var modelId = await ModelId(api, name);
        var keys = await StoredKeys(api.Factory, modelId);
        keys.Count.ShouldBe(1);
        keys[0].ShouldStartWith($"models/{projectId:N}/");
        await store.PutAsync(key, new MemoryStream(Model(9f)));
        var download = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/artifact");
        (await download.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_artifact_keys_When_registered_by_key_Then_422_400_403_and_nothing_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var projectId = await ProjectId(api);
        var store = api.Factory.Services.GetRequiredService<IObjectStore>();
        var corrupt = $"projects/{projectId:N}/exports/{Guid.NewGuid():N}/broken.onnx";
        await store.PutAsync(corrupt, new MemoryStream(Model()[..60]));
        var good = $"projects/{projectId:N}/exports/{Guid.NewGuid():N}/model.onnx";
        await store.PutAsync(good, new MemoryStream(Model()));
        var otherProjects = $"runs/{Guid.NewGuid()}/train/model.onnx";
        await store.PutAsync(otherProjects, new MemoryStream(Model()));
        var name = await ModelWithVersions(api.Maintainer, api.Project, 0);
        var modelId = await ModelId(api, name);

        await Problem(await RegisterFromStore(api.Maintainer, api.Project, name, new { artifact = corrupt }), HttpStatusCode.UnprocessableEntity);
        await Problem(await RegisterFromStore(api.Maintainer, api.Project, name, new { artifact = $"projects/{projectId:N}/nothing-here.onnx" }), HttpStatusCode.UnprocessableEntity);
        await Problem(await RegisterFromStore(api.Maintainer, api.Project, name, new { artifact = otherProjects }), HttpStatusCode.BadRequest);
        await Problem(await RegisterFromStore(api.Maintainer, api.Project, name, new { artifact = $"projects/{projectId:N}/../x" }), HttpStatusCode.BadRequest);
        await Problem(await RegisterFromStore(api.Maintainer, api.Project, name, new { artifact = good, colour = "red" }), HttpStatusCode.BadRequest);
        await Problem(await RegisterFromStore(api.Maintainer, api.Project, name, new { description = "no artifact" }), HttpStatusCode.BadRequest);
        await Problem(await RegisterFromStore(api.Viewer, api.Project, name, new { artifact = good }), HttpStatusCode.Forbidden);
        await Problem(await RegisterFromStore(api.Outsider, api.Project, name, new { artifact = good }), HttpStatusCode.NotFound);

        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions"), HttpStatusCode.OK)).GetProperty("total").GetInt32().ShouldBe(0);
        (await StoredKeys(api.Factory, modelId)).ShouldBeEmpty();
        (await Json(await RegisterFromStore(api.Maintainer, api.Project, name, new { artifact = good }), HttpStatusCode.Created)).GetProperty("version").GetInt32().ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_version_served_by_an_endpoint_When_archived_Then_409_until_it_is_no_longer_served(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        var modelId = await ModelId(api, name);
        var serving = api.Factory.Services.GetRequiredService<TestModelServing>();
        serving.Serve(modelId, 1, new ServingEndpointRef(Guid.NewGuid(), "churn-api", "blue", Shadow: false));
        try
        {
            var refused = await Problem(await Archive(api.Maintainer, api.Project, name, 1), HttpStatusCode.Conflict);
            refused.GetProperty("detail").GetString()!.ShouldContain("churn-api/blue");
            var lineage = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/lineage"), HttpStatusCode.OK);
            lineage.GetProperty("endpoints").EnumerateArray().Select(e => (e.GetProperty("endpoint").GetString(), e.GetProperty("variant").GetString())).ShouldBe([("churn-api", "blue")]);
        }
        finally
        {
            serving.Stop(modelId, 1);
        }

        await Problem(await Archive(api.Viewer, api.Project, name, 1), HttpStatusCode.Forbidden);
        await Problem(await Archive(api.Outsider, api.Project, name, 1), HttpStatusCode.NotFound);
        var archived = await Json(await Archive(api.Maintainer, api.Project, name, 1), HttpStatusCode.OK);
        archived.GetProperty("archivedAt").ValueKind.ShouldBe(JsonValueKind.String);
        await Problem(await Archive(api.Maintainer, api.Project, name, 1), HttpStatusCode.Conflict);
        await Problem(await Archive(api.Maintainer, api.Project, name, 9), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_archived_version_Then_hidden_from_default_listing_readable_by_number_and_it_takes_no_alias(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 3);
        await Json(await Move(api.Maintainer, api.Project, name, "staging", 2), HttpStatusCode.OK);

        // An alias still points at version 2: archiving it would leave the alias dangling.
        await Problem(await Archive(api.Maintainer, api.Project, name, 2), HttpStatusCode.Conflict);
        await Json(await Archive(api.Maintainer, api.Project, name, 1), HttpStatusCode.OK);

        var listed = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions"), HttpStatusCode.OK);
        listed.GetProperty("items").EnumerateArray().Select(v => v.GetProperty("version").GetInt32()).ShouldBe([3, 2]);
        var all = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions?includeArchived=true"), HttpStatusCode.OK);
        all.GetProperty("total").GetInt32().ShouldBe(3);
        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1"), HttpStatusCode.OK))
            .GetProperty("archivedAt").ValueKind.ShouldBe(JsonValueKind.String);
        await Problem(await Move(api.Maintainer, api.Project, name, "staging", 1), HttpStatusCode.Conflict);
        await Problem(await Move(api.Maintainer, api.Project, name, "fresh", 1), HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_versions_with_lineage_Then_found_by_run_and_by_dataset_through_the_contract_and_not_from_another_project(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var projectId = await ProjectId(api);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 0);
        var run = Guid.NewGuid().ToString();
        await Json(await UploadLineage(api, name, $$"""{"workflowRun": "{{run}}", "step": "train", "datasets": ["sales@4", "regions@1"]}"""), HttpStatusCode.Created);
        await Json(await UploadLineage(api, name, """{"datasets": ["sales@4"]}"""), HttpStatusCode.Created);
        await Json(await UploadLineage(api, name, """{"datasets": ["sales@5"]}"""), HttpStatusCode.Created);

        using var scope = api.Factory.Services.CreateScope();
        var lineage = scope.ServiceProvider.GetRequiredService<IModelLineageQuery>();
        var byRun = await lineage.FindByRunAsync(projectId, run);
        byRun.Count.ShouldBe(1);
        byRun[0].Model.ShouldBe(name);
        byRun[0].Version.ShouldBe(1);
        byRun[0].Step.ShouldBe("train");
        byRun[0].Datasets.ShouldBe(["regions@1", "sales@4"]);
        (await lineage.FindByDatasetAsync(projectId, "sales@4")).Where(r => r.Model == name).Select(r => r.Version).ShouldBe([1, 2]);
        (await lineage.FindByDatasetAsync(projectId, "sales@5")).Where(r => r.Model == name).Select(r => r.Version).ShouldBe([3]);
        var one = (await lineage.GetAsync(projectId, name, 1)).ShouldNotBeNull();
        one.WorkflowRun.ShouldBe(run);
        one.Status.ShouldBe("pending");
        (await lineage.GetAsync(projectId, name, 9)).ShouldBeNull();
        (await lineage.FindByRunAsync(Guid.NewGuid(), run)).ShouldBeEmpty();
        (await lineage.FindByDatasetAsync(Guid.NewGuid(), "sales@4")).ShouldBeEmpty();

        var api1 = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/lineage"), HttpStatusCode.OK);
        api1.GetProperty("datasets").EnumerateArray().Select(d => d.GetString()).ShouldBe(["regions@1", "sales@4"]);
        api1.GetProperty("endpoints").GetArrayLength().ShouldBe(0);
    }

    private static Task<HttpResponseMessage> UploadLineage(WorkflowTestAccounts api, string name, string lineage)
    {
        var form = new MultipartFormDataContent { { new StringContent(lineage), "lineage" }, { new ByteArrayContent(Model(1f)), "file", "model.onnx" } };
        return api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/models/{name}/versions", form);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_metrics_recorded_through_the_contract_Then_merged_newer_wins_with_their_source_and_audited(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var projectId = await ProjectId(api);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 0);
        await Problem(await UploadMultipart(api.Maintainer, api.Project, name, Model(), metrics: """{"$recorded": 1}"""), HttpStatusCode.BadRequest);
        await Json(await UploadMultipart(api.Maintainer, api.Project, name, Model(), metrics: """{"auc": 0.8, "loss": 0.3}"""), HttpStatusCode.Created);
        // Read once so the lookup cache holds the version: the recording must make it forget it.
        await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1"), HttpStatusCode.OK);

        using (var scope = api.Factory.Services.CreateScope())
        {
            var metrics = scope.ServiceProvider.GetRequiredService<IModelVersionMetrics>();
            (await metrics.RecordAsync(projectId, name, 1, new Dictionary<string, double> { ["auc"] = 0.84, ["f1"] = 0.7 }, "workflow:run-1/evaluate")).ShouldBeTrue();
            (await metrics.RecordAsync(projectId, name, 9, new Dictionary<string, double> { ["auc"] = 0.5 }, "x")).ShouldBeFalse();
            (await metrics.RecordAsync(Guid.NewGuid(), name, 1, new Dictionary<string, double> { ["auc"] = 0.5 }, "x")).ShouldBeFalse();
            await Should.ThrowAsync<ArgumentException>(() => metrics.RecordAsync(projectId, name, 1, new Dictionary<string, double> { ["auc"] = double.NaN }, "x"));
            await Should.ThrowAsync<ArgumentException>(() => metrics.RecordAsync(projectId, name, 1, new Dictionary<string, double> { ["$recorded"] = 1 }, "x"));
        }

        var version = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1"), HttpStatusCode.OK);
        version.GetProperty("metrics").GetProperty("auc").GetDouble().ShouldBe(0.84);
        version.GetProperty("metrics").GetProperty("loss").GetDouble().ShouldBe(0.3);
        version.GetProperty("metrics").GetProperty("f1").GetDouble().ShouldBe(0.7);
        version.GetProperty("metricSources").GetProperty("auc").GetString().ShouldBe("workflow:run-1/evaluate");
        version.GetProperty("metricSources").GetProperty("loss").GetString().ShouldBe("upload");

        version.GetProperty("metricSources").TryGetProperty("$recorded", out _).ShouldBeFalse();

        // Concurrent recordings of different metrics: every one is kept (no lost merge).
        await Task.WhenAll(Enumerable.Range(0, 8).Select(async i =>
        {
            using var scope = api.Factory.Services.CreateScope();
            (await scope.ServiceProvider.GetRequiredService<IModelVersionMetrics>()
                .RecordAsync(projectId, name, 1, new Dictionary<string, double> { [$"m{i}"] = i }, $"evaluator-{i}")).ShouldBeTrue();
        }));
        var merged = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1"), HttpStatusCode.OK);
        for (var i = 0; i < 8; i++)
        {
            merged.GetProperty("metrics").GetProperty($"m{i}").GetDouble().ShouldBe(i);
            merged.GetProperty("metricSources").GetProperty($"m{i}").GetString().ShouldBe($"evaluator-{i}");
        }

        var audit = await Json(await api.Admin.GetAsync($"/api/v1/audit?action=model.version.metrics_recorded&limit=200"), HttpStatusCode.OK);
        audit.ToString().ShouldContain($"model/{name}/1");
        audit.ToString().ShouldContain("workflow:run-1/evaluate");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_read_from_the_cache_When_another_host_moves_it_Then_the_delivered_AliasMoved_event_ends_the_stale_read(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        await Json(await Move(api.Maintainer, api.Project, name, "live", 1), HttpStatusCode.OK);
        // That move's own AliasMoved is delivered to this host too (and invalidates): let it land first.
        await WaitForDeliveredAsync(api, name);
        var path = $"/api/v1/projects/{api.Project}/models/{name}/aliases/live/version";
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);
        var modelId = await ModelId(api, name);

        // Another host's move: the row changes in the database, this host's cache knows nothing yet.
        using (var scope = api.Factory.Services.CreateScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>();
            var alias = await db.Aliases.SingleAsync(a => a.ModelId == modelId && a.Alias == "live");
            alias.Version = 2;
            alias.Revision++;
            await db.SaveChangesAsync();
        }

        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1, "answered from this host's cache (TTL 10 min in these tests)");

        // The AliasMoved event of that move is delivered to this host.
        using (var scope = api.Factory.Services.CreateScope())
        {
            foreach (var handler in scope.ServiceProvider.GetServices<IIntegrationEventHandler<AliasMoved>>())
            {
                await handler.Handle(new AliasMoved(Guid.NewGuid(), DateTimeOffset.UtcNow, Guid.Empty, api.Project, modelId, name, "live", 1, 2, 2, null), CancellationToken.None);
            }
        }

        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(2);
        // The contract other modules resolve through reads the database, cache or not.
        using var resolverScope = api.Factory.Services.CreateScope();
        (await resolverScope.ServiceProvider.GetRequiredService<IModelVersionResolver>().ResolveAsync(await ProjectId(api), name, "live")).ShouldNotBeNull().Version.ShouldBe(2);
    }

    private static async Task WaitForDeliveredAsync(WorkflowTestAccounts api, string model)
    {
        for (var i = 0; i < 600; i++)
        {
            using var scope = api.Factory.Services.CreateScope();
            var db = scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>();
            if (!await db.OutboxMessages.AnyAsync(m => m.ProcessedAt == null && m.Payload.Contains($"\"model\":\"{model}\"")))
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"The outbox did not deliver the events of '{model}'.");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_cached_reads_When_this_host_moves_the_alias_or_decides_Then_the_next_read_sees_it_and_outsiders_still_get_404(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = await ModelWithVersions(api.Maintainer, api.Project, 2);
        var path = $"/api/v1/projects/{api.Project}/models/{name}/aliases/next/version";
        await Json(await Move(api.Maintainer, api.Project, name, "next", 1), HttpStatusCode.OK);
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);

        await Json(await Move(api.Maintainer, api.Project, name, "next", 2), HttpStatusCode.OK);
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(2);
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("status").GetString().ShouldBe("pending");
        await Json(await api.Admin.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/2/approve", new { comment = "ok" }), HttpStatusCode.OK);
        (await Json(await api.Viewer.GetAsync(path), HttpStatusCode.OK)).GetProperty("status").GetString().ShouldBe("approved");

        // The project check is not cached away: a cached version is never shown to a non-member.
        await Problem(await api.Outsider.GetAsync(path), HttpStatusCode.NotFound);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/2"), HttpStatusCode.NotFound);
        await Problem(await api.Anonymous.GetAsync(path), HttpStatusCode.Unauthorized);
        (await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases/next")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await Problem(await api.Viewer.GetAsync(path), HttpStatusCode.NotFound);
    }
}
