using Microsoft.Extensions.Logging.Abstractions;
using MlPlatform.DataPipelines;
using MlPlatform.DataPipelines.Datasets;

namespace MlPlatform.UnitTests.DataPipelines;

/// <summary>The dataset cache stays within its bound, evicting least recently used files, never one in use.</summary>
public sealed class DatasetCacheTests : IDisposable
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "mlp-cache-tests-" + Guid.NewGuid().ToString("N"));
    private readonly ManualClock _clock = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    public void Dispose() => Directory.Delete(_work, recursive: true);

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    private DatasetCache Cache(long maxBytes) =>
        new(new DataPipelinesSettings(1 << 20, _work, null, null, TimeSpan.FromSeconds(1)) { CacheMaxBytes = maxBytes }, _clock, NullLogger<DatasetCache>.Instance);

    /// <summary>Leases a content, writes it as an operation would, one minute after the last.</summary>
    private DatasetCache.Lease Fill(DatasetCache cache, string sha, int bytes)
    {
        _clock.Now = _clock.Now.AddMinutes(1);
        var lease = cache.Acquire(sha, "csv");
        File.WriteAllBytes(lease.Path, new byte[bytes]);
        lease.Filled();
        return lease;
    }

    private string[] Cached(DatasetCache cache) =>
        Directory.GetFiles(cache.Folder).Select(Path.GetFileNameWithoutExtension).Order(StringComparer.Ordinal).ToArray()!;

    [Fact]
    public void Given_a_cache_over_its_bound_When_a_file_is_added_Then_the_least_recently_used_unleased_files_go_first()
    {
        var cache = Cache(maxBytes: 300);
        Fill(cache, "a", 100).Dispose();
        Fill(cache, "b", 100).Dispose();
        Fill(cache, "c", 100).Dispose();

        // Reading "a" again makes it the most recently used; "b" is now the oldest.
        _clock.Now = _clock.Now.AddMinutes(1);
        cache.Acquire("a", "csv").Dispose();
        Fill(cache, "d", 100).Dispose();

        Cached(cache).ShouldBe(["a", "c", "d"]);
        cache.SizeBytes().ShouldBe(300);
    }

    [Fact]
    public void Given_the_oldest_file_in_use_When_the_cache_must_shrink_Then_it_stays_and_the_next_oldest_goes_until_it_is_released()
    {
        var cache = Cache(maxBytes: 250);
        var inUse = Fill(cache, "a", 100);
        Fill(cache, "b", 100).Dispose();
        Fill(cache, "c", 100).Dispose();

        Cached(cache).ShouldBe(["a", "c"]);
        File.ReadAllBytes(inUse.Path).Length.ShouldBe(100);
        cache.LeasedCount.ShouldBe(1);

        inUse.Dispose();
        inUse.Dispose(); // A second dispose releases nothing more.

        cache.LeasedCount.ShouldBe(0);
        Cached(cache).ShouldBe(["a", "c"]); // Within the bound (200 <= 250): nothing more goes.
    }

    [Fact]
    public void Given_a_file_larger_than_the_bound_When_in_use_Then_it_is_kept_and_it_goes_at_its_release()
    {
        var cache = Cache(maxBytes: 150);
        Fill(cache, "a", 100).Dispose();
        var big = Fill(cache, "big", 400);

        Cached(cache).ShouldBe(["big"]);

        big.Dispose();

        Cached(cache).ShouldBeEmpty();
    }

    [Fact]
    public void Given_two_leases_of_one_file_When_one_is_released_Then_the_file_is_still_in_use()
    {
        var cache = Cache(maxBytes: 100);
        var first = Fill(cache, "a", 100);
        var second = cache.Acquire("a", "csv");
        first.Dispose();

        using var other = Fill(cache, "b", 100);

        Cached(cache).ShouldBe(["a", "b"]); // Over the bound, but both are in use.

        second.Dispose();

        Cached(cache).ShouldBe(["b"]);
    }

    [Fact]
    public void Given_a_partial_download_When_sizing_and_evicting_Then_it_is_neither_counted_nor_deleted()
    {
        var cache = Cache(maxBytes: 100);
        var partial = Path.Combine(cache.Folder, "x.csv.0123.partial");
        File.WriteAllBytes(partial, new byte[500]);
        Fill(cache, "a", 100).Dispose();

        cache.SizeBytes().ShouldBe(100);
        File.Exists(partial).ShouldBeTrue();
    }
}
