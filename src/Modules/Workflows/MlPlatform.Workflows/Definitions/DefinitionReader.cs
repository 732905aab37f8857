using System.Text.Json;
using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.Definitions;

/// <summary>One problem in a definition, at its JSON path (<c>steps[2].dependsOn[0]</c>).</summary>
public sealed record DefinitionError(string Path, string Message);

/// <summary>
/// Reads the JSON tree into a <see cref="WorkflowDefinition"/>: field names, shapes and value types.
/// It never stops at the first problem: a bad field is reported and replaced by a placeholder (an
/// empty id, say) that the validator then skips, so one submit reports every error.
/// </summary>
internal sealed class DefinitionReader
{
    private static readonly string[] RootFields = ["name", "description", "parameters", "steps", "schedule", "maxActiveRuns", "timeout", "triggers"];
    private static readonly string[] ParameterFields = ["type", "default", "description"];
    private static readonly string[] StepFields = ["id", "type", "params", "dependsOn", "retries", "timeout", "when", "pool"];
    private static readonly string[] RetryFields = ["max", "backoff", "maxDelay"];
    private static readonly string[] ScheduleFields = ["cron", "timeZone", "overlap", "catchUp"];

    private readonly List<DefinitionError> _errors;

    public DefinitionReader(List<DefinitionError> errors) => _errors = errors;

    public WorkflowDefinition Read(JsonNode root)
    {
        if (root is not JsonObject obj)
        {
            Error(DefinitionPaths.Root, "The definition must be an object with name, steps and optional parameters, schedule, maxActiveRuns.");
            return new WorkflowDefinition(string.Empty, null, [], [], null, null);
        }

        CheckFields(obj, DefinitionPaths.Root, RootFields);
        var name = RequiredString(obj, DefinitionPaths.Root, "name") ?? string.Empty;
        if (name.Length > 0 && !DefinitionRules.NamePattern().IsMatch(name))
        {
            Error("name", "The workflow name must be 2 to 63 lower-case letters, digits or '-', starting with a letter or digit.");
        }

        var description = OptionalString(obj, DefinitionPaths.Root, "description");
        if (description is { Length: > DefinitionRules.MaxDescriptionLength })
        {
            Error("description", $"The description must be at most {DefinitionRules.MaxDescriptionLength} characters.");
        }

        var parameters = ReadParameters(obj["parameters"]);
        var steps = ReadSteps(obj);
        var schedule = obj["schedule"] is { } scheduleNode ? ReadSchedule(scheduleNode) : null;
        int? maxActiveRuns = null;
        if (obj["maxActiveRuns"] is { } max)
        {
            maxActiveRuns = Int(max, "maxActiveRuns", 1, DefinitionRules.MaxActiveRunsLimit);
        }

        TimeSpan? timeout = null;
        if (obj["timeout"] is { } runTimeout)
        {
            timeout = Duration(runTimeout, "timeout");
            if (timeout == TimeSpan.Zero)
            {
                Error("timeout", "The run timeout must be longer than zero.");
            }
        }

        var triggers = Triggers.EventTriggerRules.Read(obj["triggers"], _errors);
        return new WorkflowDefinition(name, description, parameters, steps, schedule, maxActiveRuns) { Timeout = timeout, Triggers = triggers };
    }

    private List<WorkflowParameter> ReadParameters(JsonNode? node)
    {
        var result = new List<WorkflowParameter>();
        if (node is null)
        {
            return result;
        }

        if (node is not JsonObject parameters)
        {
            Error("parameters", "parameters must be an object: {name: {type, default, description}}.");
            return result;
        }

        if (parameters.Count > DefinitionRules.MaxParameters)
        {
            Error("parameters", $"A workflow takes at most {DefinitionRules.MaxParameters} parameters.");
        }

        foreach (var (name, value) in parameters)
        {
            var path = DefinitionPaths.Member("parameters", name);
            if (!DefinitionRules.ParameterNamePattern().IsMatch(name))
            {
                Error(path, $"'{name}' is not a valid parameter name: use letters, digits and '_', starting with a letter or '_' (at most 64).");
            }

            if (value is not JsonObject spec)
            {
                Error(path, "A parameter must be an object: {type, default, description}.");
                continue;
            }

            CheckFields(spec, path, ParameterFields);
            var typeName = RequiredString(spec, path, "type");
            var type = ParameterType.String;
            if (typeName is not null && !ParameterTypes.TryParse(typeName, out type))
            {
                Error(DefinitionPaths.Member(path, "type"), $"Unknown parameter type '{typeName}'; use one of {string.Join(", ", ParameterTypes.Names)}.");
            }

            var defaultValue = spec["default"]?.DeepClone();
            if (typeName is not null && ParameterTypes.TryParse(typeName, out _) && defaultValue is not null
                && ParameterTypes.Check(type, defaultValue) is { } problem)
            {
                Error(DefinitionPaths.Member(path, "default"), $"The default does not match the parameter's type: {problem}");
            }

            var description = OptionalString(spec, path, "description");
            result.Add(new WorkflowParameter(name, type, defaultValue, description));
        }

        return result;
    }

    private List<StepDefinition> ReadSteps(JsonObject root)
    {
        var result = new List<StepDefinition>();
        var node = root["steps"];
        if (node is null)
        {
            Error("steps", "steps is required: a list of at least one step.");
            return result;
        }

        if (node is not JsonArray steps)
        {
            Error("steps", "steps must be a list of steps.");
            return result;
        }

        if (steps.Count == 0)
        {
            Error("steps", "A workflow needs at least one step.");
        }
        else if (steps.Count > DefinitionRules.MaxSteps)
        {
            Error("steps", $"A workflow has at most {DefinitionRules.MaxSteps} steps.");
            return result;
        }

        for (var i = 0; i < steps.Count; i++)
        {
            result.Add(ReadStep(steps[i], DefinitionPaths.Index("steps", i)));
        }

        return result;
    }

    private StepDefinition ReadStep(JsonNode? node, string path)
    {
        if (node is not JsonObject step)
        {
            Error(path, "A step must be an object: {id, type, params, dependsOn, retries, timeout, when}.");
            return new StepDefinition(string.Empty, string.Empty, [], [], null, null, null);
        }

        CheckFields(step, path, StepFields);
        var id = RequiredString(step, path, "id") ?? string.Empty;
        if (id.Length > 0 && !DefinitionRules.StepIdPattern().IsMatch(id))
        {
            Error(DefinitionPaths.Member(path, "id"), $"'{id}' is not a valid step id: 1 to 63 letters, digits, '_' or '-', starting with a letter.");
        }

        var type = RequiredString(step, path, "type") ?? string.Empty;
        var parameters = new JsonObject();
        switch (step["params"])
        {
            case null:
                break;
            case JsonObject given:
                parameters = (JsonObject)given.DeepClone();
                break;
            default:
                Error(DefinitionPaths.Member(path, "params"), "params must be an object.");
                break;
        }

        var dependsOn = new List<string>();
        var dependsPath = DefinitionPaths.Member(path, "dependsOn");
        switch (step["dependsOn"])
        {
            case null:
                break;
            case JsonArray list:
                for (var j = 0; j < list.Count; j++)
                {
                    if (list[j] is JsonValue v && v.GetValueKind() == JsonValueKind.String)
                    {
                        dependsOn.Add(v.GetValue<string>());
                    }
                    else
                    {
                        Error(DefinitionPaths.Index(dependsPath, j), "A dependency must be a step id (a string).");
                        dependsOn.Add(string.Empty);
                    }
                }

                break;
            default:
                Error(dependsPath, "dependsOn must be a list of step ids.");
                break;
        }

        var retries = step["retries"] is { } retryNode ? ReadRetries(retryNode, DefinitionPaths.Member(path, "retries")) : null;
        TimeSpan? timeout = null;
        if (step["timeout"] is { } timeoutNode)
        {
            timeout = Duration(timeoutNode, DefinitionPaths.Member(path, "timeout"));
            if (timeout == TimeSpan.Zero)
            {
                Error(DefinitionPaths.Member(path, "timeout"), "The timeout must be longer than zero.");
            }
        }

        var when = OptionalString(step, path, "when");
        if (when is not null && string.IsNullOrWhiteSpace(when))
        {
            Error(DefinitionPaths.Member(path, "when"), "when must be a condition, e.g. \"${params.deploy} == true\"; leave it out to always run.");
            when = null;
        }
        else if (when is { Length: > DefinitionRules.MaxWhenLength })
        {
            Error(DefinitionPaths.Member(path, "when"), $"when must be at most {DefinitionRules.MaxWhenLength} characters.");
            when = null;
        }

        var pool = OptionalString(step, path, "pool");
        if (pool is not null && !Concurrency.Pools.NamePattern().IsMatch(pool))
        {
            Error(DefinitionPaths.Member(path, "pool"), "A pool name is 1 to 63 lower-case letters, digits, '-' or '_'.");
            pool = null;
        }

        return new StepDefinition(id, type, parameters, dependsOn, retries, timeout, when) { Pool = pool };
    }

    private RetryPolicy? ReadRetries(JsonNode node, string path)
    {
        if (node is not JsonObject retries)
        {
            Error(path, "retries must be an object: {max, backoff, maxDelay}.");
            return null;
        }

        CheckFields(retries, path, RetryFields);
        int? max = null;
        if (retries["max"] is { } maxNode)
        {
            max = Int(maxNode, DefinitionPaths.Member(path, "max"), 0, DefinitionRules.MaxRetries);
        }
        else
        {
            Error(DefinitionPaths.Member(path, "max"), "retries.max is required: how many times to retry after the first attempt.");
        }

        var backoff = retries["backoff"] is { } b ? Duration(b, DefinitionPaths.Member(path, "backoff")) : RetryPolicy.DefaultBackoff;
        var maxDelay = retries["maxDelay"] is { } m ? Duration(m, DefinitionPaths.Member(path, "maxDelay")) : RetryPolicy.DefaultMaxDelay;
        if (backoff is { } from && maxDelay is { } to && to < from)
        {
            Error(DefinitionPaths.Member(path, "maxDelay"), $"maxDelay ({Durations.Format(to)}) must not be shorter than backoff ({Durations.Format(from)}).");
        }

        return max is null || backoff is null || maxDelay is null ? null : new RetryPolicy(max.Value, backoff.Value, maxDelay.Value);
    }

    private ScheduleDefinition? ReadSchedule(JsonNode node)
    {
        if (node is not JsonObject schedule)
        {
            Error("schedule", "schedule must be an object: {cron, timeZone, overlap, catchUp}.");
            return null;
        }

        CheckFields(schedule, "schedule", ScheduleFields);
        var cron = RequiredString(schedule, "schedule", "cron");
        var timeZone = OptionalString(schedule, "schedule", "timeZone") ?? "UTC";
        var overlapName = OptionalString(schedule, "schedule", "overlap");
        var overlap = OverlapPolicy.Skip;
        if (overlapName is not null)
        {
            var index = DefinitionRules.OverlapNames.ToList().IndexOf(overlapName);
            if (index < 0)
            {
                Error("schedule.overlap", $"Unknown overlap policy '{overlapName}'; use one of {string.Join(", ", DefinitionRules.OverlapNames)}.");
            }
            else
            {
                overlap = (OverlapPolicy)index;
            }
        }

        var catchUp = false;
        if (schedule["catchUp"] is { } catchUpNode)
        {
            if (catchUpNode.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
            {
                catchUp = catchUpNode.GetValue<bool>();
            }
            else
            {
                Error("schedule.catchUp", "catchUp must be true or false.");
            }
        }

        return cron is null ? null : new ScheduleDefinition(cron, timeZone, overlap, catchUp);
    }

    private void CheckFields(JsonObject obj, string path, string[] known)
    {
        foreach (var (name, _) in obj)
        {
            if (!known.Contains(name, StringComparer.Ordinal))
            {
                var hint = known.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)
                    || string.Equals(k, name.Replace("_", string.Empty, StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase));
                Error(DefinitionPaths.Member(path, name), hint is null
                    ? $"Unknown field '{name}'; known fields here: {string.Join(", ", known)}."
                    : $"Unknown field '{name}'; did you mean '{hint}'?");
            }
        }
    }

    private string? RequiredString(JsonObject obj, string path, string field)
    {
        var node = obj[field];
        if (node is null)
        {
            Error(DefinitionPaths.Member(path, field), $"{field} is required.");
            return null;
        }

        return StringValue(node, DefinitionPaths.Member(path, field), field);
    }

    /// <summary>Null when absent or null (YAML's empty value), the string otherwise.</summary>
    private string? OptionalString(JsonObject obj, string path, string field) =>
        obj[field] is { } node ? StringValue(node, DefinitionPaths.Member(path, field), field) : null;

    private string? StringValue(JsonNode node, string path, string field)
    {
        if (node.GetValueKind() != JsonValueKind.String)
        {
            Error(path, $"{field} must be a string.");
            return null;
        }

        return node.GetValue<string>();
    }

    private int? Int(JsonNode node, string path, int min, int max)
    {
        if (ParameterTypes.Check(ParameterType.Int, node) is not null || !ParameterTypes.TryGetNumber(node, out var value) || value < min || value > max)
        {
            Error(path, $"Must be a whole number from {min} to {max}.");
            return null;
        }

        return (int)value;
    }

    private TimeSpan? Duration(JsonNode node, string path)
    {
        if (node.GetValueKind() != JsonValueKind.String)
        {
            Error(path, "A duration is a string such as '30s', '5m', '1h30m' or '00:05:00'.");
            return null;
        }

        if (!Durations.TryParse(node.GetValue<string>(), out var duration, out var error))
        {
            Error(path, error!);
            return null;
        }

        return duration;
    }

    private void Error(string path, string message) => _errors.Add(new DefinitionError(path, message));
}
