using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.Tests.Onnx;

namespace MlPlatform.UnitTests.ModelRegistry;

public sealed class OnnxInspectorTests
{
    private static readonly float[] Weights = [0.5f, -1.25f, 2f];

    [Fact]
    public void Given_written_model_When_loaded_by_ONNX_Runtime_Then_it_computes_the_sigmoid_of_the_affine_map()
    {
        var bytes = OnnxModelWriter.LogisticRegression(Weights, 0.1f);
        using var session = new InferenceSession(bytes);
        float[] rows = [1f, 2f, 3f, -1f, 0f, 0.5f];
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(rows, [2, 3]))]);

        var y = results.Single(r => r.Name == "y").AsTensor<float>();
        y.Dimensions.ToArray().ShouldBe([2, 1]);
        y[0, 0].ShouldBe(OnnxModelWriter.Expected(Weights, 0.1f, [1f, 2f, 3f]), 1e-6f);
        y[1, 0].ShouldBe(OnnxModelWriter.Expected(Weights, 0.1f, [-1f, 0f, 0.5f]), 1e-6f);
    }

    [Fact]
    public void Given_written_model_When_inspected_Then_signature_has_symbolic_batch_and_metadata_has_custom_map()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(path, OnnxModelWriter.LogisticRegression(Weights, 0f, producer: "unit", graphName: "g1", metadata: new Dictionary<string, string> { ["team"] = "risk" }));

            var description = OnnxInspector.Inspect(path);

            var input = description.Signature["inputs"]!.AsArray().Single()!;
            input["name"]!.GetValue<string>().ShouldBe("x");
            input["elementType"]!.GetValue<string>().ShouldBe("float");
            input["shape"]!.ToJsonString().ShouldBe("""["N",3]""");
            var output = description.Signature["outputs"]!.AsArray().Single()!;
            output["name"]!.GetValue<string>().ShouldBe("y");
            output["shape"]!.ToJsonString().ShouldBe("""["N",1]""");
            description.Metadata["producerName"]!.GetValue<string>().ShouldBe("unit");
            description.Metadata["graphName"]!.GetValue<string>().ShouldBe("g1");
            description.Metadata["custom"]!["team"]!.GetValue<string>().ShouldBe("risk");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Given_bytes_that_are_not_a_model_When_inspected_Then_unprocessable()
    {
        var path = Path.GetTempFileName();
        try
        {
            var bytes = OnnxModelWriter.LogisticRegression(Weights, 0f);
            File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);

            Should.Throw<UnprocessableException>(() => OnnxInspector.Inspect(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("inside")]
    [InlineData("parent")]
    [InlineData("absolute")]
    // ONNX Runtime 1.31 refuses external-data paths that leave the model's folder; with each upload
    // spooled into a fresh folder of its own, an uploaded model can read no file of the host.
    public void Given_model_with_external_weights_When_inspected_Then_loads_only_from_beside_the_model(string where)
    {
        var outer = Directory.CreateTempSubdirectory("mlp-onnx-test-");
        try
        {
            var folder = Directory.CreateDirectory(Path.Combine(outer.FullName, "upload"));
            var weights = new byte[Weights.Length * 4];
            Buffer.BlockCopy(Weights, 0, weights, 0, weights.Length);
            var (file, location) = where switch
            {
                "inside" => (Path.Combine(folder.FullName, "weights.bin"), "weights.bin"),
                "parent" => (Path.Combine(outer.FullName, "weights.bin"), "../weights.bin"),
                _ => (Path.Combine(outer.FullName, "weights.bin"), Path.Combine(outer.FullName, "weights.bin")),
            };
            File.WriteAllBytes(file, weights);
            var path = Path.Combine(folder.FullName, "model.onnx");
            File.WriteAllBytes(path, OnnxModelWriter.LogisticRegression(Weights, 0f, externalWeights: location));

            if (where == "inside")
            {
                // The control: the encoding is right, a file beside the model is read.
                OnnxInspector.Inspect(path).Signature["inputs"]!.AsArray().Count.ShouldBe(1);
            }
            else
            {
                Should.Throw<UnprocessableException>(() => OnnxInspector.Inspect(path));
            }
        }
        finally
        {
            outer.Delete(recursive: true);
        }
    }
}
