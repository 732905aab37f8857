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
}
