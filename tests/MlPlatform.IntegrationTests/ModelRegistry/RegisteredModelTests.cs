using System.Net;
using System.Net.Http.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

public sealed class RegisteredModelTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_maintainer_When_creating_model_Then_201_with_location_and_viewer_reads_it(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("churn");

        var response = await CreateModel(api.Maintainer, api.Project, name, tags: ["tabular", "team:risk"]);

        var created = await Json(response, HttpStatusCode.Created);
        response.Headers.Location!.ToString().ShouldBe($"/api/v1/projects/{api.Project}/models/{name}");
        created.GetProperty("latestVersion").GetInt32().ShouldBe(0);
        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}"), HttpStatusCode.OK);
        read.GetProperty("name").GetString().ShouldBe(name);
        read.GetProperty("tags").EnumerateArray().Select(t => t.GetString()).ShouldBe(["tabular", "team:risk"]);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_existing_name_When_creating_again_Then_409(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("dup");
        await Json(await CreateModel(api.Maintainer, api.Project, name), HttpStatusCode.Created);

        await Problem(await CreateModel(api.Admin, api.Project, name), HttpStatusCode.Conflict);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_callers_without_rights_When_creating_Then_viewer_403_outsider_404_anonymous_401(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);

        await Problem(await CreateModel(api.Viewer, api.Project, NewName("v")), HttpStatusCode.Forbidden);
        await Problem(await CreateModel(api.Outsider, api.Project, NewName("o")), HttpStatusCode.NotFound);
        (await CreateModel(api.Anonymous, api.Project, NewName("a"))).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_model_of_another_project_When_read_Then_404(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("theirs");
        await Json(await CreateModel(api.Outsider, api.OtherProject, name), HttpStatusCode.Created);

        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{api.OtherProject}/models/{name}"), HttpStatusCode.NotFound);
        // Nor does the name leak into the caller's own project.
        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}"), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_unsafe_names_or_tags_When_creating_Then_400(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);

        foreach (var name in new[] { "", "Upper", "has space", "-dash", "a/b", "bom\uFEFF", new string('a', 64) })
        {
            await Problem(await CreateModel(api.Maintainer, api.Project, name), HttpStatusCode.BadRequest);
        }

        await Problem(await CreateModel(api.Maintainer, api.Project, NewName("t"), tags: ["bad tag"]), HttpStatusCode.BadRequest);
        await Problem(await CreateModel(api.Maintainer, api.Project, NewName("p"), protectedAliases: ["1st"]), HttpStatusCode.BadRequest);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_empty_or_null_JSON_body_When_creating_updating_or_moving_an_alias_Then_400_saying_what_to_send(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("body");
        await Json(await CreateModel(api.Maintainer, api.Project, name), HttpStatusCode.Created);
        var requests = new (HttpMethod Method, string Path, string Expected)[]
        {
            (HttpMethod.Post, $"/api/v1/projects/{api.Project}/models", "\"name\""),
            (HttpMethod.Put, $"/api/v1/projects/{api.Project}/models/{name}", "\"description\""),
            (HttpMethod.Put, $"/api/v1/projects/{api.Project}/models/{name}/aliases/champion", "\"version\""),
        };

        foreach (var (method, path, expected) in requests)
        {
            foreach (var body in new[] { "", "null" })
            {
                using var request = new HttpRequestMessage(method, path) { Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json") };
                var problem = await Problem(await api.Maintainer.SendAsync(request), HttpStatusCode.BadRequest);
                problem.GetProperty("detail").GetString()!.ShouldContain(expected, customMessage: $"{method} {path} with '{body}'");
            }
        }

        (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/aliases"), HttpStatusCode.OK)).GetArrayLength().ShouldBe(0);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_models_When_listing_with_prefix_tag_and_paging_Then_filtered_pages_by_name(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var prefix = NewName("list");
        foreach (var (suffix, tag) in new[] { ("a", "x"), ("b", "y"), ("c", "x"), ("d", "x") })
        {
            await Json(await CreateModel(api.Maintainer, api.Project, $"{prefix}-{suffix}", tags: [tag]), HttpStatusCode.Created);
        }

        var all = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models?prefix={prefix}"), HttpStatusCode.OK);
        all.GetProperty("total").GetInt32().ShouldBe(4);

        var tagged = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models?prefix={prefix}&tag=x&offset=1&limit=1"), HttpStatusCode.OK);
        tagged.GetProperty("total").GetInt32().ShouldBe(3);
        tagged.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()).ShouldBe([$"{prefix}-c"]);

        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models?limit=0"), HttpStatusCode.BadRequest);
        // The error names the query parameter the caller sent ('prefix'), not the handler's field.
        var tooLong = await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models?prefix={new string('a', 64)}"), HttpStatusCode.BadRequest);
        tooLong.GetProperty("errors").TryGetProperty("prefix", out _).ShouldBeTrue(tooLong.ToString());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_models_with_aliases_and_decisions_When_listing_by_alias_or_status_Then_only_those_models(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var prefix = NewName("flt");
        foreach (var suffix in new[] { "a", "b", "c" })
        {
            await Json(await CreateModel(api.Maintainer, api.Project, $"{prefix}-{suffix}"), HttpStatusCode.Created);
            await Json(await UploadRaw(api.Maintainer, api.Project, $"{prefix}-{suffix}", Model()), HttpStatusCode.Created);
        }

        await Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/models/{prefix}-b/aliases/staging", new { version = 1 }), HttpStatusCode.OK);
        await Json(await api.Admin.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{prefix}-c/versions/1/approve", new { comment = "ok" }), HttpStatusCode.OK);

        async Task<List<string?>> Names(string query) =>
            (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models?prefix={prefix}&{query}"), HttpStatusCode.OK))
                .GetProperty("items").EnumerateArray().Select(i => i.GetProperty("name").GetString()).ToList();

        (await Names("alias=staging")).ShouldBe([$"{prefix}-b"]);
        (await Names("status=approved")).ShouldBe([$"{prefix}-c"]);
        (await Names("status=pending")).ShouldBe([$"{prefix}-a", $"{prefix}-b"]);
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models?status=done"), HttpStatusCode.BadRequest);
    }
}
