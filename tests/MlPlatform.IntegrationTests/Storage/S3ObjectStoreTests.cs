using System.Diagnostics;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Storage;

/// <summary>The store contract against s3rver, plus what only S3 has: links, bucket prefixes, paging.</summary>
public sealed class S3ObjectStoreTests(S3StoreFixture fixture) : ObjectStoreContract, IClassFixture<S3StoreFixture>
{
    protected override IObjectStore Store => fixture.Store;

    protected override string ExpectedBackend => "s3";

    [Fact]
    public async Task Given_stored_object_When_presigned_download_url_fetched_without_credentials_Then_returns_the_bytes()
    {
        var data = TestData.Random(300_000, seed: 3);
        var key = NewPrefix() + "download me.bin";
        await Store.PutAsync(key, new MemoryStream(data));

        var url = await Store.GetDownloadUrlAsync(key, TimeSpan.FromMinutes(5));

        url.ShouldNotBeNull();
        url.Scheme.ShouldBe("http");
        url.Query.ShouldContain("X-Amz-Signature=");
        using var http = new HttpClient();
        (await http.GetByteArrayAsync(url)).ShouldBe(data);
    }

    // s3rver does not check SigV4 signatures, so refusing a tampered link cannot be shown here.
    [Fact]
    public async Task Given_validity_When_download_url_asked_Then_link_expires_after_it_and_out_of_range_validity_is_refused()
    {
        var key = NewPrefix() + "expiring.bin";

        var url = await Store.GetDownloadUrlAsync(key, TimeSpan.FromMinutes(15));

        // The SDK counts from its own clock, corrected by the server's Date header (whole seconds).
        var expires = System.Web.HttpUtility.ParseQueryString(url.ShouldNotBeNull().Query)["X-Amz-Expires"];
        int.Parse(expires.ShouldNotBeNull(), System.Globalization.CultureInfo.InvariantCulture).ShouldBeInRange(890, 910);
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => Store.GetDownloadUrlAsync(key, TimeSpan.Zero));
        await Should.ThrowAsync<ArgumentOutOfRangeException>(() => Store.GetDownloadUrlAsync(key, TimeSpan.FromDays(8)));
    }

    [Fact]
    public void Given_key_When_uri_asked_Then_s3_uri_of_bucket_and_key()
    {
        Store.UriOf("models/m.onnx").ToString().ShouldBe($"s3://{fixture.Bucket}/models/m.onnx");
    }

    [Fact]
    public async Task Given_more_keys_than_one_page_When_listed_Then_every_page_is_read_in_order()
    {
        fixture.Settings.ListPageSize.ShouldBe(3);
        var prefix = NewPrefix();
        var keys = Enumerable.Range(0, 11).Select(i => $"{prefix}part-{i:D3}").ToList();
        foreach (var key in keys.AsEnumerable().Reverse())
        {
            await Store.PutAsync(key, new MemoryStream([1]));
        }

        (await ListKeysAsync(prefix)).ShouldBe(keys);
    }

    [Fact]
    public async Task Given_two_deployments_with_different_prefixes_in_one_bucket_When_used_Then_each_sees_only_its_own_objects()
    {
        using var blue = new S3ObjectStore(fixture.Settings with { Prefix = "deployments/blue" });
        using var green = new S3ObjectStore(fixture.Settings with { Prefix = "/deployments/green/" });
        await blue.PutAsync("shared/name.txt", new MemoryStream("blue"u8.ToArray()));
        await green.PutAsync("shared/name.txt", new MemoryStream("green-green"u8.ToArray()));

        (await blue.GetInfoAsync("shared/name.txt"))!.Size.ShouldBe(4);
        (await green.GetInfoAsync("shared/name.txt"))!.Size.ShouldBe(11);
        var blueKeys = new List<string>();
        await foreach (var info in blue.ListAsync(string.Empty))
        {
            blueKeys.Add(info.Key);
        }

        blueKeys.ShouldBe(["shared/name.txt"]);
        blue.UriOf("shared/name.txt").ToString().ShouldBe($"s3://{fixture.Bucket}/deployments/blue/shared/name.txt");
        (await Store.ExistsAsync("deployments/green/shared/name.txt")).ShouldBeTrue();

        (await green.DeleteAsync("shared/name.txt")).ShouldBeTrue();
        (await blue.ExistsAsync("shared/name.txt")).ShouldBeTrue();
    }

    [Fact]
    public async Task Given_s3_on_a_closed_port_When_health_checked_Then_unhealthy_quickly()
    {
        using var store = new S3ObjectStore(S3TestBuckets.Settings("unreachable-bucket") with
        {
            ServiceUrl = new Uri("http://127.0.0.1:1"),
            CreateBucket = true,
            Timeout = TimeSpan.FromSeconds(2),
            MaxRetries = 1,
            RetryBaseDelay = TimeSpan.FromMilliseconds(50),
        });
        var watch = Stopwatch.StartNew();

        var result = await new ObjectStoreHealthCheck(store).CheckHealthAsync(new HealthCheckContext());

        result.Status.ShouldBe(HealthStatus.Unhealthy);
        result.Description.ShouldNotBeNull().ShouldContain("s3");
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(10));
    }
}
