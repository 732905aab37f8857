using System.Net;
using System.Text.Json;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.Storage;

public sealed class S3HostTests
{
    [Fact]
    public async Task Given_storage_provider_s3_When_host_starts_Then_ready_reports_the_s3_artifact_store_healthy()
    {
        var bucket = S3TestBuckets.NewName();
        try
        {
            await using var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite, new Dictionary<string, string?>
            {
                ["Storage:Provider"] = "S3",
                ["Storage:S3:ServiceUrl"] = TestEnvironment.S3Endpoint,
                ["Storage:S3:Bucket"] = bucket,
                ["Storage:S3:AccessKey"] = TestEnvironment.S3AccessKey,
                ["Storage:S3:SecretKey"] = TestEnvironment.S3SecretKey,
                ["Storage:S3:ForcePathStyle"] = "true",
                ["Storage:S3:CreateBucket"] = "true",
            });
            using var client = factory.CreateClient();

            var response = await client.GetAsync(new Uri("/health/ready", UriKind.Relative));

            var text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
            using var body = JsonDocument.Parse(text);
            var store = body.RootElement.GetProperty("checks").GetProperty("artifact-store");
            store.GetProperty("status").GetString().ShouldBe("Healthy");
            store.GetProperty("description").GetString().ShouldBe("s3");
        }
        finally
        {
            await S3TestBuckets.DeleteAsync(bucket);
        }
    }
}
