using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

/// <summary>Hosts whose dataset cache holds about two of the test's files, with a small DuckDB memory limit and its own spill folder.</summary>
public sealed class SmallCacheHostsFixture : IAsyncLifetime
{
    public const long CacheBytes = 50_000;

    private readonly Dictionary<DatabaseProvider, Task<WorkflowTestAccounts>> _hosts = [];
    private readonly Lock _lock = new();

    public string SpillFolder { get; } = Directory.CreateTempSubdirectory("mlp-spill-").FullName;

    public Task<WorkflowTestAccounts> For(DatabaseProvider provider)
    {
        lock (_lock)
        {
            if (!_hosts.TryGetValue(provider, out var host))
            {
                host = StartAsync(provider);
                _hosts[provider] = host;
            }

            return host;
        }
    }

    private async Task<WorkflowTestAccounts> StartAsync(DatabaseProvider provider) =>
        await WorkflowTestAccounts.CreateAsync(await PlatformFactory.CreateAsync(provider, new Dictionary<string, string?>
        {
            ["DataPipelines:Cache:MaxBytes"] = CacheBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["DataPipelines:Engine:MemoryLimit"] = "256MB",
            ["DataPipelines:Engine:TempDirectory"] = SpillFolder,
            ["DataPipelines:Engine:Threads"] = "1",
        }));

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            if (host.IsCompletedSuccessfully)
            {
                host.Result.Dispose();
                await host.Result.Factory.DisposeAsync();
            }
        }

        Directory.Delete(SpillFolder, recursive: true);
    }
}

public sealed class DatasetCacheTests(SmallCacheHostsFixture hosts) : IClassFixture<SmallCacheHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    /// <summary>About 20 kB of distinct rows per seed.</summary>
    private static string Csv(int seed)
    {
        var text = new StringBuilder("id,value,label\n");
        for (var i = 0; i < 1000; i++)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"{i},{(i * 31 + seed) % 997},row-{seed}-{i}\n");
        }

        return text.ToString();
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_small_cache_bound_When_versions_are_validated_in_turn_Then_the_cache_keeps_the_most_recently_used_within_the_bound_and_evicted_ones_reload(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var cache = api.Factory.Services.GetRequiredService<DatasetCache>();
        var suite = NewName("cache");
        await Json(await CreateSuite(api.Maintainer, api.Project, suite, new object[] { new { type = "not_null", column = "id" }, new { type = "unique", column = "id" } }), HttpStatusCode.Created);
        var datasets = new List<(string Name, string Sha)>();
        for (var seed = 1; seed <= 4; seed++)
        {
            var (name, version) = await DatasetWith(api.Maintainer, api.Project, Csv(seed), "cache");
            datasets.Add((name, version.GetProperty("sha256").GetString()!));
        }

        foreach (var (name, _) in datasets)
        {
            var report = await Json(await RunSuite(api.Maintainer, api.Project, name, suite), HttpStatusCode.Created);
            report.GetProperty("passed").GetBoolean().ShouldBeTrue();
            cache.SizeBytes().ShouldBeLessThanOrEqualTo(SmallCacheHostsFixture.CacheBytes);
            cache.LeasedCount.ShouldBe(0);
        }

        Cached(cache).ShouldBe(new[] { datasets[2].Sha, datasets[3].Sha }.Order(StringComparer.Ordinal));

        // The evicted first version is downloaded again; the least recently used of the two left goes.
        (await Json(await RunSuite(api.Maintainer, api.Project, datasets[0].Name, suite), HttpStatusCode.Created)).GetProperty("passed").GetBoolean().ShouldBeTrue();
        Cached(cache).ShouldBe(new[] { datasets[0].Sha, datasets[3].Sha }.Order(StringComparer.Ordinal));

        // Each operation's spill folder sits in the configured folder and goes with the operation.
        Directory.GetDirectories(hosts.SpillFolder).ShouldBeEmpty();
    }

    private static string[] Cached(DatasetCache cache) =>
        Directory.GetFiles(cache.Folder).Where(f => !f.EndsWith(".partial", StringComparison.Ordinal))
            .Select(f => Path.GetFileNameWithoutExtension(f)).Order(StringComparer.Ordinal).ToArray();
}
