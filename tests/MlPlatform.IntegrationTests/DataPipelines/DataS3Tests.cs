using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.IntegrationTests.Storage;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

/// <summary>Datasets on an S3 artifact store (s3rver on loopback): upload, dedup, validation and a transform read back through the local cache.</summary>
public sealed class DataS3Tests
{
    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task Given_S3_store_When_dataset_uploaded_validated_transformed_and_split_Then_objects_are_in_the_bucket_and_bad_uploads_leave_nothing(DatabaseProvider provider)
    {
        var bucket = S3TestBuckets.NewName();
        using var receiver = new OpenLineageReceiver();
        try
        {
            var settings = DataHostsFixture.Settings(receiver);
            settings["Storage:Provider"] = "S3";
            settings["Storage:S3:ServiceUrl"] = TestEnvironment.S3Endpoint;
            settings["Storage:S3:Bucket"] = bucket;
            settings["Storage:S3:AccessKey"] = TestEnvironment.S3AccessKey;
            settings["Storage:S3:SecretKey"] = TestEnvironment.S3SecretKey;
            settings["Storage:S3:ForcePathStyle"] = "true";
            settings["Storage:S3:CreateBucket"] = "true";
            await using var factory = await PlatformFactory.CreateAsync(provider, settings);
            using var api = await WorkflowTestAccounts.CreateAsync(factory);
            factory.Services.GetRequiredService<IObjectStore>().Backend.ShouldBe("s3");

            var name = NewName("s3data");
            await Json(await CreateDataset(api.Maintainer, api.Project, name), HttpStatusCode.Created);
            var bytes = Encoding.UTF8.GetBytes(QualityTests.Planted);
            var version = await Json(await Upload(api.Maintainer, api.Project, name, bytes), HttpStatusCode.Created);
            version.GetProperty("artifactUri").GetString()!.ShouldStartWith($"s3://{bucket}/datasets/");
            (await Json(await Upload(api.Maintainer, api.Project, name, bytes), HttpStatusCode.OK)).GetProperty("version").GetInt32().ShouldBe(1);
            (await api.Viewer.GetByteArrayAsync($"/api/v1/projects/{api.Project}/datasets/{name}/versions/1/content")).ShouldBe(bytes);

            var suite = NewName("s3suite");
            await Json(await CreateSuite(api.Maintainer, api.Project, suite, new object[] { new { type = "not_null", column = "age" } }), HttpStatusCode.Created);
            var report = await Json(await RunSuite(api.Maintainer, api.Project, $"{name}@1", suite), HttpStatusCode.Created);
            report.GetProperty("results")[0].GetProperty("failingRows").GetInt64().ShouldBe(1);

            var clean = await Json(await Transform(api.Maintainer, api.Project, new { input = $"{name}@1", steps = new object[] { new { op = "filter", where = "age IS NOT NULL" } }, output = $"{name}-clean" }), HttpStatusCode.Created);
            clean.GetProperty("rows").GetInt64().ShouldBe(9);
            clean.GetProperty("artifactUri").GetString()!.ShouldStartWith($"s3://{bucket}/");

            await Problem(await Upload(api.Maintainer, api.Project, name, Encoding.UTF8.GetBytes("a,b\n1\n")), HttpStatusCode.UnprocessableEntity);
            (await StoredKeys(factory, "datasets/")).Count.ShouldBe(2);

            var events = await receiver.WaitForAsync(e => e["job"]?["name"]?.GetValue<string>() == $"data.transform.{name}-clean", 2);
            events.Single(e => e["eventType"]!.GetValue<string>() == "COMPLETE")["inputs"]![0]!["namespace"]!.GetValue<string>().ShouldBe($"s3://{bucket}");
        }
        finally
        {
            await S3TestBuckets.DeleteAsync(bucket);
        }
    }
}
