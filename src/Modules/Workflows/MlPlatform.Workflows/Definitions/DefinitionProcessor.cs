using System.Text.Json.Nodes;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.Definitions;

/// <summary>A definition that passed every check, in its stored form.</summary>
public sealed record ValidDefinition(WorkflowDefinition Definition, JsonObject Normalized, string Json, string ContentHash);

/// <summary>Either every error found, or the valid definition.</summary>
public sealed record DefinitionOutcome(IReadOnlyList<DefinitionError> Errors, ValidDefinition? Valid)
{
    public bool IsValid => Valid is not null;
}

/// <summary>
/// Text in, valid definition or every error out: parse (JSON or YAML) → read → validate → normalize.
/// Syntax errors throw <see cref="DefinitionSyntaxException"/>; everything else is collected.
/// </summary>
public sealed class DefinitionProcessor(IStepTypeRegistry registry, IntegrationEventTypes? events = null, Concurrency.PoolOptions? pools = null)
{
    public DefinitionOutcome Process(string text, DefinitionFormat format) => Process(DefinitionDocument.Parse(text, format));

    public DefinitionOutcome Process(JsonNode tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var errors = new List<DefinitionError>();
        var definition = new DefinitionReader(errors).Read(tree);
        new DefinitionValidator(registry).Validate(definition, errors);
        Triggers.EventTriggerRules.Validate(definition, events, errors);
        if (pools is not null)
        {
            for (var i = 0; i < definition.Steps.Count; i++)
            {
                if (definition.Steps[i].Pool is { } pool && !pools.Sizes.ContainsKey(pool))
                {
                    errors.Add(new DefinitionError($"steps[{i}].pool", pools.Sizes.Count == 0
                        ? $"Unknown pool '{pool}': no pools are configured (Workflows:Pools:<name> = slots)."
                        : $"Unknown pool '{pool}'; configured: {string.Join(", ", pools.Sizes.Keys.Order(StringComparer.Ordinal))}."));
                }
            }
        }
        if (errors.Count > 0)
        {
            return new DefinitionOutcome(errors, null);
        }

        var normalized = DefinitionJson.ToJson(definition);
        return new DefinitionOutcome([], new ValidDefinition(definition, normalized, DefinitionJson.Serialize(normalized), DefinitionJson.ContentHash(normalized)));
    }

    /// <summary>Reads a stored version back (it was valid when stored; step types may have changed since).</summary>
    public static WorkflowDefinition Load(string json)
    {
        var errors = new List<DefinitionError>();
        var definition = new DefinitionReader(errors).Read(DefinitionDocument.Parse(json, DefinitionFormat.Json));
        return errors.Count == 0
            ? definition
            : throw new InvalidOperationException($"A stored definition no longer reads: {errors[0].Path}: {errors[0].Message}");
    }
}
