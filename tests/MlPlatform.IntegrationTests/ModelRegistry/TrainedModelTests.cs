using System.Net;
using System.Security.Cryptography;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>A model trained with ML.NET on generated data, exported to ONNX and registered like a user would.</summary>
public sealed class TrainedModelTests(ModelRegistryHostsFixture hosts) : IClassFixture<ModelRegistryHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private sealed class Row
    {
        public bool Label { get; set; }

        [VectorType(3)]
        public float[] Features { get; set; } = [];
    }

    private sealed class Prediction
    {
        public float Probability { get; set; }
    }

    private static (byte[] Onnx, PredictionEngine<Row, Prediction> Engine) TrainLogisticRegression()
    {
        var ml = new MLContext(seed: 7);
        var random = new Random(7);
        var rows = Enumerable.Range(0, 400).Select(_ =>
        {
            var x = new[] { (float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 2 - 1 };
            return new Row { Features = x, Label = 1.5 * x[0] - 2 * x[1] + 0.5 * x[2] + (random.NextDouble() - 0.5) * 0.3 > 0 };
        }).ToList();
        var data = ml.Data.LoadFromEnumerable(rows);
        var model = ml.BinaryClassification.Trainers.SdcaLogisticRegression(maximumNumberOfIterations: 50).Fit(data);
        using var stream = new MemoryStream();
        ml.Model.ConvertToOnnx(model, data, stream);
        return (stream.ToArray(), ml.Model.CreatePredictionEngine<Row, Prediction>(model));
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_ML_NET_model_exported_to_ONNX_When_uploaded_Then_signature_and_hash_and_downloaded_model_predicts_like_ML_NET(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (onnx, engine) = TrainLogisticRegression();
        var name = NewName("mlnet");
        await Json(await CreateModel(api.Maintainer, api.Project, name), HttpStatusCode.Created);

        var version = await Json(await UploadMultipart(api.Maintainer, api.Project, name, onnx, metrics: """{"auc": 0.99}"""), HttpStatusCode.Created);

        version.GetProperty("sha256").GetString().ShouldBe(Convert.ToHexStringLower(SHA256.HashData(onnx)));
        version.GetProperty("sizeBytes").GetInt64().ShouldBe(onnx.Length);
        var inputs = version.GetProperty("signature").GetProperty("inputs").EnumerateArray().ToDictionary(i => i.GetProperty("name").GetString()!);
        inputs.Keys.ShouldBe(["Label", "Features"], ignoreOrder: true);
        inputs["Features"].GetProperty("elementType").GetString().ShouldBe("float");
        inputs["Features"].GetProperty("shape")[1].GetInt32().ShouldBe(3);
        var outputs = version.GetProperty("signature").GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()).ToList();
        outputs.ShouldContain("Probability.output");
        version.GetProperty("metadata").GetProperty("producerName").GetString()!.ShouldContain("ML.NET", Case.Insensitive);

        var downloaded = await (await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/models/{name}/versions/1/artifact")).Content.ReadAsByteArrayAsync();
        downloaded.ShouldBe(onnx);
        using var session = new InferenceSession(downloaded);
        float[] features = [0.3f, -0.6f, 0.1f];
        using var results = session.Run(
        [
            NamedOnnxValue.CreateFromTensor("Features", new DenseTensor<float>(features, [1, 3])),
            // The exported graph also expects the label column; its value does not change the prediction.
            NamedOnnxValue.CreateFromTensor("Label", new DenseTensor<bool>(new[] { false }, [1, 1])),
        ]);
        var probability = results.Single(r => r.Name == "Probability.output").AsEnumerable<float>().Single();
        probability.ShouldBe(engine.Predict(new Row { Features = features }).Probability, 1e-5f);
    }
}
