using System.Text.Json.Nodes;

namespace MlPlatform.Workflows.Contracts.StepTypes;

/// <summary>
/// A kind of work a workflow step can do (<c>noop</c>, <c>model.train</c>, ...). The module that owns
/// the work implements it and registers it with <see cref="StepTypeRegistration.AddStepType{T}"/>;
/// the Workflows module validates definitions against it at submit and runs it for each attempt.
/// Implementations are singletons and must be thread-safe.
/// </summary>
public interface IStepType
{
    /// <summary>
    /// The name used in definitions: lower-case words separated by dots, e.g. <c>wait</c> or
    /// <c>model.train</c> (see <see cref="StepTypeNames.Pattern"/>).
    /// </summary>
    string Name { get; }

    /// <summary>One sentence for the API reference and error messages.</summary>
    string Description { get; }

    /// <summary>The parameters the step accepts; any other parameter is an error.</summary>
    IReadOnlyList<StepParameterSpec> Parameters { get; }

    /// <summary>
    /// Checks a step's <c>params</c> at submit: every problem, each with its path inside the params
    /// (e.g. <c>url</c> or <c>headers.Accept</c>). Values that hold templates are only known when the
    /// run resolves them, so their checks belong in <see cref="ExecuteAsync"/> too.
    /// </summary>
    IReadOnlyList<StepParameterError> Validate(JsonObject parameters);

    /// <summary>
    /// Runs one attempt. Returns outputs, or asks to be suspended and resumed later; throws
    /// <see cref="StepFailedException"/> (or any exception) to fail the attempt, and must honour
    /// <paramref name="cancellationToken"/> (timeouts and run cancellation use it).
    /// </summary>
    Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>A problem with a step's parameters; <see cref="Path"/> is relative to the step's <c>params</c>.</summary>
public sealed record StepParameterError(string Path, string Message);

/// <summary>Fails an attempt with a message for the step's log; <see cref="Retryable"/> false skips the remaining retries.</summary>
public sealed class StepFailedException(string message, bool retryable = true, Exception? inner = null) : Exception(message, inner)
{
    public bool Retryable { get; } = retryable;
}
