using MlPlatform.SharedKernel.Errors;
using MlPlatform.Workflows.Definitions;

namespace MlPlatform.Workflows.WorkflowDefinitions;

/// <summary>
/// 422: the definition parsed but is not valid. The problem's <c>errors</c> lists every problem as
/// {path, message}; nothing was stored.
/// </summary>
public sealed class InvalidDefinitionException(IReadOnlyList<DefinitionError> errors)
    : PlatformException("Invalid workflow definition", Summary(errors))
{
    public IReadOnlyList<DefinitionError> Errors { get; } = errors;

    public override int StatusCode => 422;

    public override IReadOnlyDictionary<string, object?>? Extensions => new Dictionary<string, object?>
    {
        ["errors"] = Errors.Select(e => new ProblemError(e.Path, e.Message)).ToArray(),
    };

    private static string Summary(IReadOnlyList<DefinitionError> errors) =>
        errors.Count == 1 ? $"1 error: {errors[0].Path}: {errors[0].Message}" : $"{errors.Count} errors; see 'errors' for each with its path.";
}

/// <summary>400: the body is not JSON or YAML at all. <c>errors</c> holds one entry with the parser's line and column.</summary>
public sealed class MalformedDefinitionException(DefinitionSyntaxException syntax)
    : PlatformException("Malformed workflow definition", syntax.Message, syntax)
{
    public override int StatusCode => 400;

    public override IReadOnlyDictionary<string, object?>? Extensions => new Dictionary<string, object?>
    {
        ["errors"] = new[] { new ProblemError(DefinitionPaths.Root, syntax.Message) { Line = syntax.Line, Column = syntax.Column } },
    };
}
