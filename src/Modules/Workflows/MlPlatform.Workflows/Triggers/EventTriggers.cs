using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Definitions;

namespace MlPlatform.Workflows.Triggers;

/// <summary>
/// A rule that starts a run when an integration event of this project arrives:
/// <c>{"event": "DatasetVersionCreated", "where": {"dataset": "churn"}, "parameters": {"version": "${event.version}"}}</c>.
/// <c>where</c> compares fields of the event (camelCase as published, dotted for nested ones) with
/// literal values, all of which must be equal; <c>parameters</c> gives run parameters, literal or from
/// the event through <c>${event.&lt;field&gt;}</c> (a string that is exactly one template keeps the value's type).
/// </summary>
public sealed record EventTrigger(string Event, JsonObject Where, JsonObject Parameters);

public static partial class EventTriggerRules
{
    public const int MaxTriggers = 20;

    private static readonly string[] Fields = ["event", "where", "parameters"];

    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9_.]{0,199}$", RegexOptions.CultureInvariant)]
    private static partial Regex EventNamePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$", RegexOptions.CultureInvariant)]
    private static partial Regex FieldPathPattern();

    [GeneratedRegex(@"\$\{event\.([^}]*)\}", RegexOptions.CultureInvariant)]
    private static partial Regex EventTemplate();

    /// <summary>Reads <c>triggers</c> (shape only; <see cref="Validate"/> checks names against the workflow and the known events).</summary>
    internal static List<EventTrigger> Read(JsonNode? node, List<DefinitionError> errors)
    {
        var triggers = new List<EventTrigger>();
        if (node is null)
        {
            return triggers;
        }

        if (node is not JsonArray list)
        {
            errors.Add(new DefinitionError("triggers", "triggers must be a list of {event, where, parameters}."));
            return triggers;
        }

        if (list.Count > MaxTriggers)
        {
            errors.Add(new DefinitionError("triggers", $"At most {MaxTriggers} triggers."));
        }

        for (var i = 0; i < list.Count; i++)
        {
            var path = $"triggers[{i}]";
            if (list[i] is not JsonObject rule)
            {
                errors.Add(new DefinitionError(path, "A trigger must be an object: {event, where, parameters}."));
                continue;
            }

            foreach (var (key, _) in rule.Where(p => !Fields.Contains(p.Key)))
            {
                errors.Add(new DefinitionError($"{path}.{key}", $"Unknown field '{key}' (known: {string.Join(", ", Fields)})."));
            }

            var name = rule["event"] is JsonValue v && v.TryGetValue<string>(out var text) ? text : null;
            if (name is null || !EventNamePattern().IsMatch(name))
            {
                errors.Add(new DefinitionError($"{path}.event", "event must name an integration event type, e.g. 'DatasetVersionCreated'."));
            }

            var where = rule["where"] as JsonObject;
            if (rule["where"] is not null && where is null)
            {
                errors.Add(new DefinitionError($"{path}.where", "where must be an object of event fields and the values they must equal."));
            }

            foreach (var (field, value) in where ?? [])
            {
                if (!FieldPathPattern().IsMatch(field))
                {
                    errors.Add(new DefinitionError($"{path}.where[{JsonSerializer.Serialize(field)}]", $"'{field}' is not a field path (names joined by dots)."));
                }

                if (value is not JsonValue)
                {
                    errors.Add(new DefinitionError($"{path}.where.{field}", "Compare with a string, number or boolean."));
                }
            }

            var parameters = rule["parameters"] as JsonObject;
            if (rule["parameters"] is not null && parameters is null)
            {
                errors.Add(new DefinitionError($"{path}.parameters", "parameters must be an object: run parameter to value or ${event.<field>}."));
            }

            triggers.Add(new EventTrigger(name ?? string.Empty, (JsonObject)(where?.DeepClone() ?? new JsonObject()), (JsonObject)(parameters?.DeepClone() ?? new JsonObject())));
        }

        return triggers;
    }

    /// <summary>The event must be known (when the host's event types are), and parameters must be the workflow's, with well-formed templates.</summary>
    internal static void Validate(WorkflowDefinition definition, IntegrationEventTypes? events, List<DefinitionError> errors)
    {
        for (var i = 0; i < definition.Triggers.Count; i++)
        {
            var trigger = definition.Triggers[i];
            var path = $"triggers[{i}]";
            if (events is not null && trigger.Event.Length > 0 && Resolve(events, trigger.Event) is null)
            {
                var known = events.All.Select(t => t.Name).Order(StringComparer.Ordinal).ToList();
                errors.Add(new DefinitionError($"{path}.event", $"Unknown event '{trigger.Event}'; known: {string.Join(", ", known)}."));
            }

            var declared = definition.Parameters.ToDictionary(p => p.Name, StringComparer.Ordinal);
            foreach (var (name, value) in trigger.Parameters)
            {
                if (!declared.ContainsKey(name))
                {
                    errors.Add(new DefinitionError($"{path}.parameters.{name}", $"The workflow has no parameter '{name}'."));
                }

                if (value is JsonValue v && v.TryGetValue<string>(out var text) && text.Contains("${", StringComparison.Ordinal))
                {
                    var stripped = EventTemplate().Replace(text, m => FieldPathPattern().IsMatch(m.Groups[1].Value) ? string.Empty : m.Value);
                    if (stripped.Contains("${", StringComparison.Ordinal))
                    {
                        errors.Add(new DefinitionError($"{path}.parameters.{name}", "Only ${event.<field>} templates can be used here."));
                    }
                }
            }

            foreach (var parameter in definition.Parameters.Where(p => p.Default is null && !trigger.Parameters.ContainsKey(p.Name)))
            {
                errors.Add(new DefinitionError($"{path}.parameters", $"The parameter '{parameter.Name}' has no default: map it from the event."));
            }
        }
    }

    /// <summary>The event type by full name, or by its short name when that is unique.</summary>
    public static Type? Resolve(IntegrationEventTypes events, string name)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Find(name) is { } exact)
        {
            return exact;
        }

        var byShortName = events.All.Where(t => t.Name == name).ToList();
        return byShortName.Count == 1 ? byShortName[0] : null;
    }

    public static JsonObject ToJson(EventTrigger trigger)
    {
        ArgumentNullException.ThrowIfNull(trigger);
        return new JsonObject { ["event"] = trigger.Event, ["where"] = trigger.Where.DeepClone(), ["parameters"] = trigger.Parameters.DeepClone() };
    }

    /// <summary>True when every <c>where</c> field of the event equals its value.</summary>
    public static bool Matches(JsonObject where, JsonObject evt)
    {
        ArgumentNullException.ThrowIfNull(where);
        foreach (var (path, expected) in where)
        {
            if (!JsonNode.DeepEquals(Field(evt, path), expected))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The run parameters the rule maps from the event.</summary>
    public static JsonObject Map(JsonObject parameters, JsonObject evt)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        var result = new JsonObject();
        foreach (var (name, value) in parameters)
        {
            if (value is JsonValue v && v.TryGetValue<string>(out var text) && text.Contains("${event.", StringComparison.Ordinal))
            {
                var whole = EventTemplate().Match(text);
                result[name] = whole.Success && whole.Index == 0 && whole.Length == text.Length
                    ? Field(evt, whole.Groups[1].Value)?.DeepClone()
                    : JsonValue.Create(EventTemplate().Replace(text, m => Field(evt, m.Groups[1].Value) is JsonValue f && f.TryGetValue<string>(out var s) ? s : Field(evt, m.Groups[1].Value)?.ToJsonString() ?? string.Empty));
            }
            else
            {
                result[name] = value?.DeepClone();
            }
        }

        return result;
    }

    private static JsonNode? Field(JsonObject evt, string path)
    {
        JsonNode? node = evt;
        foreach (var part in path.Split('.'))
        {
            node = node is JsonObject o ? o[part] : null;
        }

        return node;
    }
}
