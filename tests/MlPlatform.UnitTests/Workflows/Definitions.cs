using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.StepTypes;

namespace MlPlatform.UnitTests.Workflows;

/// <summary>A processor with the built-in step types and a known http allow-list.</summary>
internal static class Definitions
{
    public static readonly HttpStepOptions Http = new(["api.example.com", "*.internal.test", "localhost:8080"]);

    public static DefinitionProcessor Processor { get; } = new(new StepTypeRegistry(
        [new NoopStep(), new WaitStep(), new ApprovalStep(), new HttpStep(Http, new NoHttp())]));

    public static DefinitionOutcome Json(string json) => Processor.Process(json, DefinitionFormat.Json);

    public static DefinitionOutcome Yaml(string yaml) => Processor.Process(yaml, DefinitionFormat.Yaml);

    public static IReadOnlyList<DefinitionError> ErrorsOf(string yaml)
    {
        var outcome = Yaml(yaml);
        outcome.IsValid.ShouldBeFalse("the definition was expected to be invalid");
        return outcome.Errors;
    }

    public static DefinitionError Single(IReadOnlyList<DefinitionError> errors, string path)
    {
        var matching = errors.Where(e => e.Path == path).ToList();
        matching.Count.ShouldBe(1, $"expected one error at {path}; got: {string.Join(" | ", errors.Select(e => e.Path + ": " + e.Message))}");
        return matching[0];
    }
}

/// <summary>Validation never sends requests.</summary>
internal sealed class NoHttp : IHttpClientFactory
{
    public HttpClient CreateClient(string name) => throw new InvalidOperationException("Validation must not send requests.");
}
