using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Aliases;
using MlPlatform.ModelRegistry.Caching;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.ModelRegistry.Steps;

/// <summary>
/// <c>model.promote</c>: points an alias at a version. For a protected alias the version must be
/// approved first: while it is pending the step suspends (holding no thread) and looks again every
/// <c>pollInterval</c> (default <see cref="ModelRegistrySettings.PromotePollInterval"/>); a rejected
/// version fails the step without retries. The approval by a person with the approver right is
/// what authorizes the move, so the step moves the protected alias on the run's behalf.
/// </summary>
public sealed class ModelPromoteStep(IServiceScopeFactory scopes, ModelRegistrySettings settings) : StepType
{
    public override string Name => "model.promote";

    public override string Description => "Moves an alias to a version; for a protected alias waits until the version is approved, fails if it is rejected.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("model", ParameterType.String, Required: true, Description: "The registered model's name."),
        new("version", ParameterType.Any, Required: true, Description: "The version number, e.g. ${steps.register.outputs.version}."),
        new("alias", ParameterType.String, Required: true, Description: "The alias to move, e.g. champion."),
        new("pollInterval", ParameterType.Duration, Description: "How often to look again while the version awaits approval."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("model", out var model) && !ModelRules.NamePattern().IsMatch(model!.GetValue<string>()))
        {
            errors.Add(new StepParameterError("model", ModelRules.NameMessage));
        }

        if (values.TryGetValue("alias", out var alias) && !ModelRules.AliasPattern().IsMatch(alias!.GetValue<string>()))
        {
            errors.Add(new StepParameterError("alias", ModelRules.AliasMessage));
        }

        if (values.TryGetValue("version", out var version) && VersionOf(version) is null)
        {
            errors.Add(new StepParameterError("version", "The version must be a positive whole number."));
        }

        if (values.TryGetValue("pollInterval", out var poll) && Durations.Parse(poll!.GetValue<string>()) < TimeSpan.FromMilliseconds(100))
        {
            errors.Add(new StepParameterError("pollInterval", "The poll interval must be at least 100ms."));
        }
    }

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var name = Text(context, "model");
        var aliasName = Text(context, "alias");
        if (name is null || !ModelRules.NamePattern().IsMatch(name) || aliasName is null || !ModelRules.AliasPattern().IsMatch(aliasName))
        {
            throw new StepFailedException("'model' must be a model name and 'alias' an alias name.", retryable: false);
        }

        var number = VersionOf(context.Parameters["version"]) ?? throw new StepFailedException("'version' must be a positive whole number.", retryable: false);
        var poll = context.Parameters["pollInterval"] is JsonValue p && p.TryGetValue<string>(out var text) && Durations.TryParse(text, out var parsed, out _)
            ? parsed
            : settings.PromotePollInterval;

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ModelRegistryDbContext>();
        var projectName = await scope.ServiceProvider.GetRequiredService<IProjectDirectory>().FindNameAsync(context.ProjectId, cancellationToken)
            ?? throw new StepFailedException("The run's project no longer exists.", retryable: false);
        var model = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.ProjectId == context.ProjectId && m.Name == name, cancellationToken)
            ?? throw new StepFailedException($"The project has no registered model '{name}'.", retryable: false);
        var version = await db.ModelVersions.AsNoTracking().SingleOrDefaultAsync(v => v.ModelId == model.Id && v.Version == number, cancellationToken)
            ?? throw new StepFailedException($"'{name}' has no version {number}.", retryable: false);
        if (version.Status == VersionStatus.Rejected)
        {
            throw new StepFailedException($"Version {number} of '{name}' was rejected" + (version.DecisionComment is { } why ? $": {why}" : "."), retryable: false);
        }

        if (model.IsProtected(aliasName) && version.Status == VersionStatus.Pending)
        {
            if (context.State is null)
            {
                context.Log.Info($"'{aliasName}' is protected: waiting for an approver to approve version {number} of '{name}' (looking every {Durations.Format(poll)}).");
            }

            return StepResult.Suspend(context.Clock.GetUtcNow() + poll, new JsonObject { ["waitingFor"] = $"{name}/{number}" });
        }

        try
        {
            var moved = await AliasMover.MoveAsync(db, context.Clock, scope.ServiceProvider.GetRequiredService<VersionLookupCache>(),
                context.ProjectId, projectName, model, aliasName, number, caller: null, cancellationToken);
            context.Log.Info($"'{aliasName}' of '{name}' points at version {number} (revision {moved.Revision}).");
            return StepResult.Succeeded(new Dictionary<string, JsonNode?>
            {
                ["model"] = name,
                ["alias"] = aliasName,
                ["version"] = number,
                ["revision"] = moved.Revision,
            });
        }
        catch (ConflictException ex) when (!ex.Message.Contains("being moved by others", StringComparison.Ordinal)
            && !ex.Message.Contains("are being changed", StringComparison.Ordinal))
        {
            // Made protected while the move was judged (the move lost to the protection change and
            // was judged again): wait for the approval as above.
            db.ChangeTracker.Clear();
            var now = await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.Id == model.Id, cancellationToken);
            var status = await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == model.Id && v.Version == number).Select(v => v.Status).SingleOrDefaultAsync(cancellationToken);
            if (now is not null && now.IsProtected(aliasName) && status == VersionStatus.Pending)
            {
                context.Log.Info($"'{aliasName}' was made protected meanwhile: waiting for an approver to approve version {number} of '{name}'.");
                return StepResult.Suspend(context.Clock.GetUtcNow() + poll, new JsonObject { ["waitingFor"] = $"{name}/{number}" });
            }

            // Rejected or archived meanwhile: a retry would meet the same answer.
            throw new StepFailedException(ex.Message, retryable: false, ex);
        }
    }

    private static string? Text(StepContext context, string name) =>
        context.Parameters[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    /// <summary>A number, or a string of digits (a template written inside a string resolves to text).</summary>
    private static int? VersionOf(JsonNode? node)
    {
        if (ParameterTypes.TryGetNumber(node, out var number))
        {
            return number is >= 1 and <= int.MaxValue && Math.Floor(number) == number ? (int)number : null;
        }

        return node is JsonValue value && value.TryGetValue<string>(out var text)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) && parsed > 0
            ? parsed
            : null;
    }
}
