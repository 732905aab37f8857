using System.Net;
using System.Net.Http.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>The management API: who may do what, and what a bad endpoint description answers.</summary>
public sealed class ManagementTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_endpoint_Then_members_read_it_viewer_cannot_change_weights_and_outsider_gets_404(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var endpoint = await Endpoint(api, name => new
        {
            name,
            variants = new object[] { new { name = "a", model, version = 1, weight = 50 }, new { name = "b", model, version = 2, weight = 50 } },
        });

        var read = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.OK);
        read.GetProperty("variants").GetArrayLength().ShouldBe(2);
        read.GetProperty("variants")[0].GetProperty("loaded").GetBoolean().ShouldBeTrue();
        var list = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints"), HttpStatusCode.OK);
        list.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("name").GetString()).ShouldContain(endpoint);

        await Problem(await api.Viewer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/weights", new { weights = new { a = 90, b = 10 } }), HttpStatusCode.Forbidden);
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}"), HttpStatusCode.NotFound);
        // The outsider's own project does not hold it either.
        await Problem(await api.Outsider.GetAsync($"/api/v1/projects/{api.OtherProject}/endpoints/{endpoint}"), HttpStatusCode.NotFound);
        await Problem(await api.Outsider.PutAsJsonAsync($"/api/v1/projects/{api.OtherProject}/endpoints/{endpoint}/weights", new { weights = new { a = 90, b = 10 } }), HttpStatusCode.NotFound);
        await Problem(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/weights", new { weights = new { a = 90, b = 20 } }), HttpStatusCode.BadRequest);

        var changed = await Json(await api.Maintainer.PutAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/weights", new { weights = new { a = 90, b = 10 } }), HttpStatusCode.OK);
        changed.GetProperty("variants").EnumerateArray().Select(v => v.GetProperty("weight").GetInt32()).ShouldBe([90, 10]);

        (await api.Viewer.DeleteAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.Forbidden);
        (await api.Maintainer.DeleteAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}")).StatusCode.ShouldBe(HttpStatusCode.NoContent);
        await Error(await Infer(api.Viewer, endpoint, V2Body([1f, 2f, 3f])), HttpStatusCode.NotFound);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_endpoint_descriptions_Then_400_409_and_nothing_is_stored(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var name = NewName("bad");

        await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object[] { new { name = "a", model, version = 1, weight = 60 }, new { name = "b", model, version = 1, weight = 30 } } }), HttpStatusCode.BadRequest);
        await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object[] { new { model, version = 1, alias = "champion" } } }), HttpStatusCode.BadRequest);
        await Problem(await Create(api.Maintainer, api.Project, new { name, variants = Array.Empty<object>() }), HttpStatusCode.BadRequest);
        // A null where a variant belongs, alone or beside one (it used to reach the weight checks as a null reference).
        (await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object?[] { null } }), HttpStatusCode.BadRequest)).GetRawText().ShouldContain("Every variant");
        (await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object?[] { new { model, version = 1, weight = 50 }, null } }), HttpStatusCode.BadRequest)).GetRawText().ShouldContain("Every variant");
        await Problem(await Create(api.Maintainer, api.Project, new { name = "Bad Name", variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.BadRequest);
        await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object[] { new { model, version = 9 } } }), HttpStatusCode.BadRequest);
        await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object[] { new { model = "no-such-model", version = 1 } } }), HttpStatusCode.BadRequest);
        await Problem(await Create(api.Viewer, api.Project, new { name, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.Forbidden);
        await Problem(await Create(api.Outsider, api.Project, new { name, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.NotFound);
        // The version is pending approval: a production endpoint refuses it.
        await Problem(await Create(api.Maintainer, api.Project, new { name, production = true, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.Conflict);
        await Problem(await api.Maintainer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{name}"), HttpStatusCode.NotFound);

        await Json(await Create(api.Maintainer, api.Project, new { name, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.Created);
        // Names are unique across the server, whichever project asks.
        await Problem(await Create(api.Outsider, api.OtherProject, new { name, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.Conflict);
        await Problem(await Create(api.Maintainer, api.Project, new { name, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.Conflict);

        await Approve(api, model, 1);
        var production = NewName("prod");
        await Json(await Create(api.Maintainer, api.Project, new { name = production, production = true, variants = new object[] { new { model, version = 1 } } }), HttpStatusCode.Created);

        // An archived version is not deployed again, by number, to any endpoint.
        var retired = await ModelWithVersions(api, 1);
        (await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/models/{retired}/versions/1/archive", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var refused = await Problem(await Create(api.Maintainer, api.Project, new { name = NewName("old"), variants = new object[] { new { model = retired, version = 1 } } }), HttpStatusCode.Conflict);
        refused.GetProperty("detail").GetString()!.ShouldContain("archived");
    }
}
