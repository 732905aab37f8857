using System.Text.Json.Nodes;

namespace MlPlatform.Workflows.Contracts.StepTypes;

/// <summary>
/// Convenience base for step types: checks the declared <see cref="Parameters"/> (unknown names,
/// required ones, value types) and then calls <see cref="ValidateValues"/> for the type's own rules.
/// </summary>
public abstract class StepType : IStepType
{
    public abstract string Name { get; }

    public abstract string Description { get; }

    public abstract IReadOnlyList<StepParameterSpec> Parameters { get; }

    public IReadOnlyList<StepParameterError> Validate(JsonObject parameters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var errors = new List<StepParameterError>();
        var typed = StepParameterSchema.Validate(Parameters, parameters, errors);
        ValidateValues(parameters, typed, errors);
        return errors;
    }

    /// <summary>
    /// The type's own rules. <paramref name="values"/> holds only the parameters that are present,
    /// of their declared type and not a template, so each rule can read its value as that type;
    /// <paramref name="parameters"/> is everything as written, templates included.
    /// </summary>
    protected virtual void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
    }

    public abstract Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken);
}

/// <summary>Checks step params against a list of <see cref="StepParameterSpec"/>.</summary>
public static class StepParameterSchema
{
    /// <summary>
    /// Adds an error for each unknown, missing or mistyped parameter and returns the parameters
    /// whose literal values passed (templated values are checked when the run resolves them).
    /// </summary>
    public static IReadOnlyDictionary<string, JsonNode?> Validate(
        IReadOnlyList<StepParameterSpec> specs, JsonObject parameters, List<StepParameterError> errors)
    {
        ArgumentNullException.ThrowIfNull(specs);
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(errors);
        var checkable = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        foreach (var (name, value) in parameters)
        {
            var spec = specs.FirstOrDefault(s => s.Name == name);
            if (spec is null)
            {
                var known = specs.Count == 0 ? "it takes no parameters" : "known: " + string.Join(", ", specs.Select(s => s.Name));
                errors.Add(new StepParameterError(name, $"Unknown parameter '{name}' ({known})."));
                continue;
            }

            if (StepTemplates.IsTemplated(value))
            {
                continue;
            }

            if (ParameterTypes.Check(spec.Type, value) is { } problem)
            {
                errors.Add(new StepParameterError(name, problem));
                continue;
            }

            checkable[name] = value;
        }

        foreach (var spec in specs.Where(s => s.Required && !parameters.ContainsKey(s.Name)))
        {
            errors.Add(new StepParameterError(spec.Name, $"The parameter '{spec.Name}' is required."));
        }

        return checkable;
    }

    /// <summary>A copy of <paramref name="parameters"/> with the defaults of the missing ones filled in.</summary>
    public static JsonObject WithDefaults(IReadOnlyList<StepParameterSpec> specs, JsonObject parameters)
    {
        ArgumentNullException.ThrowIfNull(specs);
        ArgumentNullException.ThrowIfNull(parameters);
        var result = (JsonObject)parameters.DeepClone();
        foreach (var spec in specs.Where(s => s.Default is not null && !result.ContainsKey(s.Name)))
        {
            result[spec.Name] = spec.Default!.DeepClone();
        }

        return result;
    }
}

/// <summary>
/// Templates in step params: <c>${steps.&lt;id&gt;.outputs.&lt;name&gt;}</c>, <c>${params.&lt;name&gt;}</c>,
/// <c>${run.id}</c>. A string that is exactly one template takes the referenced value with its JSON
/// type; otherwise the values are written into the string. <c>$${</c> writes a literal <c>${</c>.
/// </summary>
public static class StepTemplates
{
    /// <summary>True when <paramref name="value"/> is a string with at least one template in it.</summary>
    public static bool IsTemplated(JsonNode? value) =>
        value is JsonValue v && v.TryGetValue<string>(out var text) && IsTemplated(text);

    public static bool IsTemplated(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        for (var i = text.IndexOf("${", StringComparison.Ordinal); i >= 0; i = text.IndexOf("${", i + 2, StringComparison.Ordinal))
        {
            if (i == 0 || text[i - 1] != '$')
            {
                return true;
            }
        }

        return false;
    }
}
