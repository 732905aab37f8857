using System.Net;
using System.Net.Http.Json;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>A model trained with ML.NET in the test, exported to ONNX, registered, deployed and called; answers equal ML.NET's own.</summary>
public sealed class MlNetModelTests(PredictionHostsFixture hosts) : IClassFixture<PredictionHostsFixture>
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

        public bool PredictedLabel { get; set; }
    }

    private static (byte[] Onnx, PredictionEngine<Row, Prediction> Engine) Train()
    {
        var ml = new MLContext(seed: 11);
        var random = new Random(11);
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
    public async Task Given_ML_NET_model_When_called_through_V2_and_predict_Then_probabilities_equal_ML_NET(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var (onnx, engine) = Train();
        var model = NewName("mlnet");
        await Json(await CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        await Json(await UploadMultipart(api.Maintainer, api.Project, model, onnx), HttpStatusCode.Created);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        float[][] rows = [[0.3f, -0.6f, 0.1f], [-0.9f, 0.2f, 0.4f], [0.05f, 0.05f, -0.05f]];

        var v2 = await Json(await Infer(api.Viewer, endpoint, new
        {
            inputs = new object[]
            {
                new { name = "Features", shape = new[] { 3, 3 }, datatype = "FP32", data = rows },
                // ML.NET's exported graph also takes the label column; its value does not change the answer.
                new { name = "Label", shape = new[] { 3, 1 }, datatype = "BOOL", data = new[] { false, false, false } },
            },
            outputs = new[] { new { name = "Probability.output" } },
        }), HttpStatusCode.OK);
        var probabilities = Output(v2, "Probability.output");

        var simple = await Json(await api.Viewer.PostAsJsonAsync($"/api/v1/endpoints/{endpoint}/predict", new { instances = rows.Select(r => new { Features = r }) }), HttpStatusCode.OK);
        var predictions = simple.GetProperty("predictions").EnumerateArray().ToList();

        for (var i = 0; i < rows.Length; i++)
        {
            var expected = engine.Predict(new Row { Features = rows[i] });
            probabilities[i].ShouldBe(expected.Probability, 1e-5f);
            predictions[i].GetProperty("Probability.output").GetSingle().ShouldBe(expected.Probability, 1e-5f);
            predictions[i].GetProperty("PredictedLabel.output").GetBoolean().ShouldBe(expected.PredictedLabel);
        }
    }
}
