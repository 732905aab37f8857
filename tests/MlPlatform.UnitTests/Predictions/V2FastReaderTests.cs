using System.Text;
using MlPlatform.Predictions.Inference;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.UnitTests.Predictions;

/// <summary>
/// The one-pass reader of common V2 requests must read exactly what the general parser reads, and
/// decline everything else, so that malformed requests keep getting the general parser's 400s.
/// </summary>
public sealed class V2FastReaderTests
{
    [Theory]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[0.1,-2,3e2]}]}""")]
    [InlineData("""{"id":"r1","inputs":[{"name":"x","datatype":"FP64","shape":[3],"data":[1.5,2,1e-300]}],"outputs":[{"name":"y"},{"name":"z"}]}""")]
    [InlineData("""{"inputs":[{"datatype":"INT64","name":"a","shape":[2,1],"data":[9007199254740993,-4]},{"name":"b","shape":[2],"datatype":"INT32","data":[2147483647,-2147483648]}],"extra":{"ignored":[1,{"x":2}]}}""")]
    [InlineData("""{ "inputs" : [ { "name" : "x", "shape" : [0, 4], "datatype" : "FP32", "data" : [ ] , "unknown": "skipped"} ], "outputs": [] }""")]
    [InlineData("""{"inputs":[{"name":"x","shape":[],"datatype":"FP32","data":[7]}]}""")]
    [InlineData("""{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1e400,-1e400]}]}""")] // ±Infinity both ways: the NaN/Inf policy decides later

    public void Given_common_request_Then_fast_reader_reads_what_the_general_parser_reads(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);

        V2FastReader.TryRead(body, 1_000, out var fast).ShouldBeTrue();
        var general = V2Codec.ParseInferGeneral(body, 1_000);

        fast!.Id.ShouldBe(general.Id);
        fast.Variant.ShouldBe(general.Variant);
        fast.RequestKey.ShouldBe(general.RequestKey);
        fast.UseCache.ShouldBe(general.UseCache);
        fast.Outputs.ShouldBe(general.Outputs);
        fast.Inputs.Count.ShouldBe(general.Inputs.Count);
        for (var i = 0; i < fast.Inputs.Count; i++)
        {
            var (a, b) = (fast.Inputs[i], general.Inputs[i]);
            a.Name.ShouldBe(b.Name);
            a.Datatype.ShouldBe(b.Datatype);
            a.Shape.ShouldBe(b.Shape);
            a.Data.GetType().ShouldBe(b.Data.GetType());
            a.Data.Cast<object>().ShouldBe(b.Data.Cast<object>());
        }
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("[]", "JSON object")]
    [InlineData("{\"inputs\":[]}", "non-empty array")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,3],\"datatype\":\"FP32\",\"data\":[1,2]}]}", "has 2 elements")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2,3]}]}", "has 3 elements")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,\"a\"]}]}", "not a number")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"INT32\",\"data\":[1,2.5]}]}", "element 1")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"INT32\",\"data\":[1,4294967296]}]}", "element 1")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,-2],\"datatype\":\"FP32\",\"data\":[1,2]}]}", "whole number")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP8\",\"data\":[1,2]}]}", "not a tensor datatype")]
    [InlineData("{\"inputs\":[{\"name\":\"\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}", "name is required")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\"}]}", "'data' is required")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}],\"id\":5}", "'id' must be a string")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}],\"outputs\":[{\"name\":\"y\"},{\"name\":\"y\"}]}", "twice")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}],\"outputs\":[{}]}", "needs a 'name'")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]} {}", "not valid JSON")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]", "not valid JSON")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[100,100],\"datatype\":\"FP32\",\"data\":[1]}]}", "more than the body can carry")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2],\"parameters\":{\"binary_data_size\":8}}]}", "binary")]
    public void Given_malformed_request_Then_fast_reader_declines_and_the_general_parser_answers_400(string json, string reason)
    {
        var body = Encoding.UTF8.GetBytes(json);

        V2FastReader.TryRead(body, 1_000, out _).ShouldBeFalse();
        Should.Throw<BadRequestException>(() => V2Codec.ParseInfer(body, 1_000)).Message.ShouldContain(reason);
    }

    [Theory]
    [InlineData("{\"parameters\":{\"variant\":\"b\"},\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,2]}]}")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[[1,2]]}]}")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"data\":[1,2],\"shape\":[1,2],\"datatype\":\"FP32\"}]}")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,2],\"datatype\":\"FP32\",\"data\":[1,\"NaN\"]}]}")]
    [InlineData("{\"inputs\":[{\"name\":\"x\",\"shape\":[2],\"datatype\":\"BOOL\",\"data\":[true,false]}]}")]
    public void Given_valid_request_of_another_shape_Then_fast_reader_declines_and_the_general_parser_reads_it(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);

        V2FastReader.TryRead(body, 1_000, out _).ShouldBeFalse();
        V2Codec.ParseInfer(body, 1_000).Inputs.Count.ShouldBe(1);
    }
}
