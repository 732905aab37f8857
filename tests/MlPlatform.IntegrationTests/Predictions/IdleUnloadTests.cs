using System.Net;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>
/// The real clock moved forward on demand: everything keeps running in real time (timers, tokens,
/// the outbox), and a test jumps over an idle period instead of waiting for it.
/// </summary>
public sealed class ShiftedClock : TimeProvider
{
    private long _offsetTicks;

    public void Advance(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    private TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;

    public override long GetTimestamp() =>
        System.GetTimestamp() + (long)(Offset.Ticks * ((double)TimestampFrequency / TimeSpan.TicksPerSecond));
}

/// <summary>A host whose models are unloaded after a minute unused, on a clock the test moves.</summary>
public sealed class IdleUnloadFixture : PredictionHostsFixture
{
    public static readonly TimeSpan IdleAfter = TimeSpan.FromMinutes(1);

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
        [new("Predictions:Sessions:IdleUnloadAfter", "00:01:00")];

    // One clock per host: each provider's host moves on its own.
    protected override void ConfigureServices(IServiceCollection services) => services.AddSingleton<TimeProvider>(new ShiftedClock());
}

/// <summary>Idle unload: a model unused past the idle time is unloaded, and the next request reloads it and answers as before.</summary>
public sealed class IdleUnloadTests(IdleUnloadFixture hosts) : IClassFixture<IdleUnloadFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly float[] Row = [0.3f, -0.6f, 0.1f];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_model_idle_past_the_idle_time_Then_it_is_unloaded_a_recently_used_one_stays_and_the_next_request_reloads_it(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var clock = api.Factory.Services.GetRequiredService<TimeProvider>().ShouldBeOfType<ShiftedClock>();
        var sessions = api.Factory.Services.GetRequiredService<ModelSessions>();
        var model = await ModelWithVersions(api, 2);
        string[] idle = [SessionLifecycleTests.Sha(Model(0))];
        string[] busy = [SessionLifecycleTests.Sha(Model(1))];
        var a = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, version = 1 } } });
        var b = await Endpoint(api, name => new { name, variants = new object[] { new { name = "main", model, version = 2 } } });
        await Answers(api, a, 1);
        await Answers(api, b, 2);
        var first = SessionLifecycleTests.Ours(sessions, idle).ShouldHaveSingleItem();
        SessionLifecycleTests.Ours(sessions, busy).ShouldHaveSingleItem();
        var loadedBefore = sessions.LoadedCount;

        // a is left alone for longer than the idle time; b is used half-way through.
        clock.Advance(IdleUnloadFixture.IdleAfter / 2);
        await Answers(api, b, 2);
        clock.Advance((IdleUnloadFixture.IdleAfter / 2) + TimeSpan.FromSeconds(1));

        // The refresher sweeps every half second on its own.
        await Until(() => SessionLifecycleTests.Ours(sessions, idle).Count == 0, "the idle model to be unloaded");
        first.Disposed.ShouldBeTrue();
        SessionLifecycleTests.Ours(sessions, busy).ShouldHaveSingleItem();
        sessions.LoadedCount.ShouldBe(loadedBefore - 1);

        // The next request loads a's model again, transparently.
        await Answers(api, a, 1);
        SessionLifecycleTests.Ours(sessions, idle).ShouldHaveSingleItem().ShouldNotBeSameAs(first);
        sessions.LoadedCount.ShouldBe(loadedBefore);
        (await api.Viewer.GetAsync($"/v2/models/{a}/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        for (var i = 0; i < 600; i++)
        {
            if (condition())
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new ShouldAssertException("Timed out waiting for " + what);
    }

    private static async Task Answers(WorkflowTestAccounts api, string endpoint, int version)
    {
        var response = await Infer(api.Viewer, endpoint, V2Body(Row));
        var body = await Json(response, HttpStatusCode.OK);
        Header(response, "X-Model-Version").ShouldBe(version.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Output(body)[0].ShouldBe(Expected(version, Row), 1e-6f);
    }
}
