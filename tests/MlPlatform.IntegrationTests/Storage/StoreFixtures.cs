using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Storage;

/// <summary>A local store in a fresh temporary folder, removed afterwards.</summary>
public sealed class LocalStoreFixture : IDisposable
{
    public LocalStoreFixture()
    {
        Parent = Path.Combine(Path.GetTempPath(), "mlp-store-" + Guid.NewGuid().ToString("N")[..12]);
        Root = Path.Combine(Parent, "store");
        Store = new LocalObjectStore(Root);
    }

    /// <summary>The folder above the root, where an escaping key would land.</summary>
    public string Parent { get; }

    public string Root { get; }

    public LocalObjectStore Store { get; }

    public void Dispose()
    {
        if (Directory.Exists(Parent))
        {
            Directory.Delete(Parent, recursive: true);
        }
    }
}

/// <summary>
/// An S3 store on the test s3rver with a fresh bucket for the test class (created by the store
/// itself through CreateBucket), emptied and removed afterwards.
/// </summary>
public sealed class S3StoreFixture : IAsyncLifetime
{
    public S3StoreFixture()
    {
        Bucket = S3TestBuckets.NewName();
        Settings = S3TestBuckets.Settings(Bucket) with
        {
            CreateBucket = true,
            PartSizeBytes = S3StoreSettings.MinPartSizeBytes,
            // Tiny pages so every listing in the tests crosses page boundaries.
            ListPageSize = 3,
        };
        Store = new S3ObjectStore(Settings);
    }

    public string Bucket { get; }

    public S3StoreSettings Settings { get; }

    public S3ObjectStore Store { get; }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        Store.Dispose();
        await S3TestBuckets.DeleteAsync(Bucket);
    }
}

internal static class S3TestBuckets
{
    public static string NewName() => "mlp-test-" + Guid.NewGuid().ToString("N")[..20];

    public static S3StoreSettings Settings(string bucket) => new()
    {
        ServiceUrl = new Uri(TestEnvironment.S3Endpoint),
        Region = "us-east-1",
        Bucket = bucket,
        AccessKey = TestEnvironment.S3AccessKey,
        SecretKey = TestEnvironment.S3SecretKey,
        ForcePathStyle = true,
        Timeout = TimeSpan.FromSeconds(30),
        MaxRetries = 2,
    };

    public static AmazonS3Client Client() => new(
        new BasicAWSCredentials(TestEnvironment.S3AccessKey, TestEnvironment.S3SecretKey),
        new AmazonS3Config
        {
            ServiceURL = TestEnvironment.S3Endpoint,
            AuthenticationRegion = "us-east-1",
            ForcePathStyle = true,
            UseHttp = true,
        });

    /// <summary>Removes the bucket and everything in it; a bucket that was never created is fine.</summary>
    public static async Task DeleteAsync(string bucket)
    {
        using var client = Client();
        try
        {
            string? token = null;
            do
            {
                var page = await client.ListObjectsV2Async(new ListObjectsV2Request { BucketName = bucket, ContinuationToken = token });
                foreach (var item in page.S3Objects ?? [])
                {
                    await client.DeleteObjectAsync(bucket, item.Key);
                }

                token = page.IsTruncated == true ? page.NextContinuationToken : null;
            }
            while (token is not null);

            await client.DeleteBucketAsync(bucket);
        }
        catch (AmazonS3Exception ex) when (ex.ErrorCode == "NoSuchBucket")
        {
        }
    }
}
