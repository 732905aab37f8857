using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.Tests.Onnx;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>Session lifecycle seen from outside: a model failing at Run, and alias moves back and forth.</summary>
public sealed class SessionLifecycleTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];
    private static readonly float[] OtherRow = [1.5f, 2f, -0.25f];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_model_failing_at_run_Then_422_error_and_endpoint_stays_healthy(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("m");
        await Json(await CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        // Loads fine (the row count is symbolic), computes for 2 rows only: ONNX Runtime refuses any other at Run.
        await Json(await UploadRaw(api.Maintainer, api.Project, model, OnnxModelWriter.FixedRowsReshape(2, 3)), HttpStatusCode.Created);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, version = 1 } } });

        await AnswersTwoRows(api, endpoint);
        for (var i = 0; i < 3; i++)
        {
            // One row is valid by the signature ([N, 3]), so this is the model's failure, not a 400.
            var message = await Error(await Infer(api.Viewer, endpoint, V2Body(Row)), HttpStatusCode.UnprocessableEntity);
            message.ShouldContain("model failed");
            await AnswersTwoRows(api, endpoint);
        }

        (await api.Viewer.GetAsync($"/v2/models/{endpoint}/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.Viewer.GetAsync($"/v2/models/{endpoint}/versions/1/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await api.Anonymous.GetAsync("/v2/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_alias_moved_back_and_forth_20_times_Then_sessions_stay_bounded_and_released_ones_are_disposed(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        var shas = new[] { Sha(Model(0)), Sha(Model(1)) };
        await MoveAlias(api, model, "live", 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, alias = "live" } } });
        var sessions = api.Factory.Services.GetRequiredService<ModelSessions>();
        var seen = new HashSet<LoadedModel>(ReferenceEqualityComparer.Instance);

        for (var i = 0; i < 20; i++)
        {
            var version = i % 2 == 0 ? 2 : 1;
            await MoveAlias(api, model, "live", version);
            await AnswersWith(api, endpoint, version);

            var ours = Ours(sessions, shas);
            // While a swap is in progress the old and the new version may both be loaded, never more.
            ours.Count.ShouldBeLessThanOrEqualTo(2);
            seen.UnionWith(ours);
        }

        // The alias ends on version 1; the old table is retired right after the new one is published.
        LoadedModel[] final = [];
        for (var attempt = 0; attempt < 600; attempt++)
        {
            final = [.. Ours(sessions, shas)];
            if (final.Length == 1)
            {
                break;
            }

            await Task.Delay(50);
        }

        final.Length.ShouldBe(1, "only the version the alias points at stays loaded");
        final[0].File.Sha256.ShouldBe(shas[0], StringCompareShould.IgnoreCase);
        // Each move loaded a fresh session and released the old one.
        seen.Count.ShouldBeGreaterThan(10);
        seen.Where(m => !ReferenceEquals(m, final[0])).ShouldAllBe(m => m.Disposed);
        await AnswersWith(api, endpoint, 1);
    }

    private static async Task AnswersTwoRows(WorkflowTestAccounts api, string endpoint)
    {
        var body = await Json(await Infer(api.Viewer, endpoint, V2Body(Row, OtherRow)), HttpStatusCode.OK);
        Output(body).ShouldBe([.. Row, .. OtherRow]);
    }

    /// <summary>Asks until the endpoint follows the alias to <paramref name="version"/>; every answer on the way must be right for its version.</summary>
    private static async Task AnswersWith(WorkflowTestAccounts api, string endpoint, int version)
    {
        for (var attempt = 0; attempt < 400; attempt++)
        {
            var response = await Infer(api.Viewer, endpoint, V2Body(Row));
            var body = await Json(response, HttpStatusCode.OK);
            var answered = int.Parse(Header(response, "X-Model-Version"), System.Globalization.CultureInfo.InvariantCulture);
            Output(body)[0].ShouldBe(Expected(answered, Row), 1e-6f);
            if (answered == version)
            {
                return;
            }

            await Task.Delay(25);
        }

        throw new ShouldAssertException($"The endpoint never moved to version {version}");
    }

    internal static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    internal static List<LoadedModel> Ours(ModelSessions sessions, string[] shas) =>
        sessions.Loaded().Where(m => shas.Contains(m.File.Sha256, StringComparer.OrdinalIgnoreCase)).ToList();
}

/// <summary>A host whose session memory budget holds one of <see cref="RegistryApi.Model"/>'s files but not two.</summary>
public sealed class OneModelBudgetFixture : PredictionHostsFixture
{
    public static readonly long Budget = Model(0).Length * 3L / 2;

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
        [new("Predictions:Sessions:MemoryBudgetBytes", Budget.ToString(System.Globalization.CultureInfo.InvariantCulture))];
}

/// <summary>The memory budget: least recently used models are evicted, and reloaded transparently when asked for.</summary>
public sealed class SessionBudgetTests(OneModelBudgetFixture hosts) : IClassFixture<OneModelBudgetFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_budget_for_one_model_When_second_loads_Then_first_is_evicted_and_reloads_on_request(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 2);
        string[] first = [SessionLifecycleTests.Sha(Model(0))];
        string[] second = [SessionLifecycleTests.Sha(Model(1))];
        Model(1).Length.ShouldBe(Model(0).Length);
        var sessions = api.Factory.Services.GetRequiredService<ModelSessions>();
        var a = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, version = 1 } } });
        var b = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, version = 2 } } });

        await Answers(api, a, 1);
        var loadedFirst = SessionLifecycleTests.Ours(sessions, first).ShouldHaveSingleItem();
        SessionLifecycleTests.Ours(sessions, second).ShouldBeEmpty();
        sessions.LoadedCount.ShouldBe(1);
        sessions.LoadedBytes.ShouldBeLessThanOrEqualTo(OneModelBudgetFixture.Budget);

        // Loading version 2 for b goes over the budget: a's model, the least recently used, goes.
        await Answers(api, b, 2);
        SessionLifecycleTests.Ours(sessions, first).ShouldBeEmpty();
        SessionLifecycleTests.Ours(sessions, second).ShouldHaveSingleItem();
        sessions.LoadedCount.ShouldBe(1);
        loadedFirst.Disposed.ShouldBeTrue();

        // a still answers: its model is loaded again, and b's evicted in turn.
        await Answers(api, a, 1);
        var reloaded = SessionLifecycleTests.Ours(sessions, first).ShouldHaveSingleItem();
        reloaded.ShouldNotBeSameAs(loadedFirst);
        SessionLifecycleTests.Ours(sessions, second).ShouldBeEmpty();
        sessions.LoadedCount.ShouldBe(1);
        (await api.Viewer.GetAsync($"/v2/models/{b}/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await Answers(api, b, 2);
    }

    private static async Task Answers(WorkflowTestAccounts api, string endpoint, int version)
    {
        var response = await Infer(api.Viewer, endpoint, V2Body(Row));
        var body = await Json(response, HttpStatusCode.OK);
        Header(response, "X-Model-Version").ShouldBe(version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Output(body)[0].ShouldBe(Expected(version, Row), 1e-6f);
    }
}
