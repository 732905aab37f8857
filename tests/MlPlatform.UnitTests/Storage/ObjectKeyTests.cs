using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.UnitTests.Storage;

public sealed class ObjectKeyTests
{
    [Theory]
    [InlineData("models/m1/v1/model.onnx")]
    [InlineData("a")]
    [InlineData("datasets/x y/data.csv")]
    public void Given_relative_key_Then_it_is_accepted(string key) => ObjectKey.Validate(key).ShouldBe(key);

    [Theory]
    [InlineData("")]
    [InlineData("/etc/passwd")]
    [InlineData("../secret")]
    [InlineData("a/../../b")]
    [InlineData("a/./b")]
    [InlineData("a//b")]
    [InlineData("a/")]
    [InlineData("a\\..\\b")]
    [InlineData("a\u0000b")]
    [InlineData("a\nb")]
    public void Given_key_that_could_escape_the_store_Then_it_is_rejected(string key) =>
        Should.Throw<InvalidObjectKeyException>(() => ObjectKey.Validate(key));

    [Fact]
    public void Given_key_over_the_length_limit_Then_it_is_rejected() =>
        Should.Throw<InvalidObjectKeyException>(() => ObjectKey.Validate(new string('a', ObjectKey.MaxLength + 1)));

    [Theory]
    [InlineData("")]
    [InlineData("models/")]
    [InlineData("models/m1")]
    public void Given_prefix_Then_trailing_slash_and_empty_are_allowed(string prefix) => ObjectKey.ValidatePrefix(prefix).ShouldBe(prefix);
}
