using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.IntegrationTests.Storage;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>The registry on an S3 artifact store (s3rver on loopback) instead of the local folder.</summary>
public sealed class ModelRegistryS3Tests
{
    [Fact]
    public async Task Given_S3_store_When_model_uploaded_Then_artifact_is_in_the_bucket_downloads_identical_registers_by_key_and_corrupt_input_leaves_nothing()
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
            using var api = await WorkflowTestAccounts.CreateAsync(factory);
            var name = NewName("s3");
            var modelId = (await Json(await CreateModel(api.Maintainer, api.Project, name), HttpStatusCode.Created)).GetProperty("id").GetGuid();
            var bytes = Model(0.75f);

            var version = await Json(await UploadMultipart(api.Maintainer, api.Project, name, bytes), HttpStatusCode.Created);

            version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(bytes)));
            version.GetProperty("artifactUri").GetString()!.ShouldStartWith($"s3://{bucket}/");
            factory.Services.GetRequiredService<IObjectStore>().Backend.ShouldBe("s3");
            (await StoredKeys(factory, modelId)).Count.ShouldBe(1);
            var download = await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/artifact");
            download.StatusCode.ShouldBe(HttpStatusCode.OK);
            (await download.Content.ReadAsByteArrayAsync()).ShouldBe(bytes);

            await Problem(await UploadRaw(api.Maintainer, api.Project, name, bytes[..50]), HttpStatusCode.UnprocessableEntity);
            (await StoredKeys(factory, modelId)).Count.ShouldBe(1);

            // Registered from an object already in the bucket: copied under the registry's prefix.
            var projectId = (await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}"), HttpStatusCode.OK)).GetProperty("id").GetGuid();
            var store = factory.Services.GetRequiredService<IObjectStore>();
            var other = Model(1.25f);
            var key = $"projects/{projectId:N}/exports/model.onnx";
            await store.PutAsync(key, new MemoryStream(other));
            var byKey = await Json(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{name}/versions", new { artifact = key }), HttpStatusCode.Created);
            byKey.GetProperty("version").GetInt32().ShouldBe(2);
            byKey.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(other)));
            byKey.GetProperty("artifactUri").GetString()!.ShouldStartWith($"s3://{bucket}/models/");
            (await StoredKeys(factory, modelId)).Count.ShouldBe(2);
            await store.PutAsync($"projects/{projectId:N}/exports/broken.onnx", new MemoryStream(other[..40]));
            await Problem(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/models/{name}/versions", new { artifact = $"projects/{projectId:N}/exports/broken.onnx" }), HttpStatusCode.UnprocessableEntity);
            (await StoredKeys(factory, modelId)).Count.ShouldBe(2);
        }
        finally
        {
            await S3TestBuckets.DeleteAsync(bucket);
        }
    }
}
