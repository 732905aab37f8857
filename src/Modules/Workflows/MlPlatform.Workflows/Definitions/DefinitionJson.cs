using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.Definitions;

/// <summary>
/// The stored form of a definition: normalized JSON with every default written out (time zone,
/// overlap, retry delays), so a version means the same even if a default changes later, and a
/// content hash that is equal for equal definitions whatever their format, key order or spacing.
/// </summary>
public static class DefinitionJson
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    public static JsonObject ToJson(WorkflowDefinition definition)
    {
        ArgumentNullException.ThrowIfNull(definition);
        var root = new JsonObject { ["name"] = definition.Name };
        if (definition.Description is not null)
        {
            root["description"] = definition.Description;
        }

        var parameters = new JsonObject();
        foreach (var parameter in definition.Parameters)
        {
            var spec = new JsonObject { ["type"] = ParameterTypes.NameOf(parameter.Type) };
            if (parameter.Default is not null)
            {
                spec["default"] = parameter.Default.DeepClone();
            }

            if (parameter.Description is not null)
            {
                spec["description"] = parameter.Description;
            }

            parameters[parameter.Name] = spec;
        }

        root["parameters"] = parameters;
        var steps = new JsonArray();
        foreach (var step in definition.Steps)
        {
            var node = new JsonObject
            {
                ["id"] = step.Id,
                ["type"] = step.Type,
                ["params"] = step.Params.DeepClone(),
                ["dependsOn"] = new JsonArray(step.DependsOn.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
            };
            if (step.Retries is { } retries)
            {
                node["retries"] = new JsonObject
                {
                    ["max"] = retries.Max,
                    ["backoff"] = Durations.Format(retries.Backoff),
                    ["maxDelay"] = Durations.Format(retries.MaxDelay),
                };
            }

            if (step.Timeout is { } timeout)
            {
                node["timeout"] = Durations.Format(timeout);
            }

            if (step.When is not null)
            {
                node["when"] = step.When;
            }

            if (step.Pool is not null)
            {
                node["pool"] = step.Pool;
            }

            steps.Add(node);
        }

        root["steps"] = steps;
        if (definition.Schedule is { } schedule)
        {
            root["schedule"] = new JsonObject
            {
                ["cron"] = schedule.Cron,
                ["timeZone"] = schedule.TimeZone,
                ["overlap"] = DefinitionRules.OverlapName(schedule.Overlap),
                ["catchUp"] = schedule.CatchUp,
            };
        }

        if (definition.MaxActiveRuns is { } maxActiveRuns)
        {
            root["maxActiveRuns"] = maxActiveRuns;
        }

        if (definition.Triggers.Count > 0)
        {
            root["triggers"] = new JsonArray(definition.Triggers.Select(t => (JsonNode?)Triggers.EventTriggerRules.ToJson(t)).ToArray());
        }

        if (definition.Timeout is { } runTimeout)
        {
            root["timeout"] = Durations.Format(runTimeout);
        }

        return root;
    }

    /// <summary>SHA-256 (hex) of the JSON with object keys sorted and no whitespace.</summary>
    public static string ContentHash(JsonNode normalized)
    {
        ArgumentNullException.ThrowIfNull(normalized);
        var canonical = Sorted(normalized)!.ToJsonString(Compact);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }

    public static string Serialize(JsonNode normalized) => normalized.ToJsonString(Compact);

    private static JsonNode? Sorted(JsonNode? node) => node switch
    {
        JsonObject obj => new JsonObject(obj.OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => KeyValuePair.Create(p.Key, Sorted(p.Value)))),
        JsonArray array => new JsonArray(array.Select(Sorted).ToArray()),
        _ => node?.DeepClone(),
    };
}
