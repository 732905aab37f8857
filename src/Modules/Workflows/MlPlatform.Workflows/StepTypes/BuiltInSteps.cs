using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.StepTypes;

/// <summary>Does nothing and succeeds; its optional <c>outputs</c> become its outputs (handy to wire and test templates).</summary>
public sealed class NoopStep : StepType
{
    public override string Name => "noop";

    public override string Description => "Does nothing and succeeds; returns the optional 'outputs' object as its outputs.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("outputs", ParameterType.Object, Description: "Returned as the step's outputs."),
    ];

    public override Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var outputs = context.Parameters["outputs"] is JsonObject given
            ? given.ToDictionary(p => p.Key, p => p.Value?.DeepClone())
            : null;
        return Task.FromResult(StepResult.Succeeded(outputs));
    }
}

/// <summary>
/// Waits for a duration without holding a thread: the first entry suspends until the deadline,
/// the resume after it succeeds. Re-entering early (a host restarted) suspends again.
/// </summary>
public sealed class WaitStep : StepType
{
    public override string Name => "wait";

    public override string Description => "Waits for 'duration' (e.g. '30s', '5m', '1h30m') and succeeds.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("duration", ParameterType.Duration, Required: true, Description: "How long to wait, e.g. '30s', '5m', '1h30m'."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("duration", out var value) && Durations.Parse(value!.GetValue<string>()) <= TimeSpan.Zero)
        {
            errors.Add(new StepParameterError("duration", "The duration must be longer than zero."));
        }
    }

    public override Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var now = context.Clock.GetUtcNow();
        DateTimeOffset until;
        if (context.State?["until"] is JsonValue saved && saved.TryGetValue<DateTimeOffset>(out var deadline))
        {
            until = deadline;
        }
        else
        {
            var text = context.Parameters["duration"]?.GetValue<string>()
                ?? throw new StepFailedException("The parameter 'duration' is missing.", retryable: false);
            if (!Durations.TryParse(text, out var duration, out var error))
            {
                throw new StepFailedException(error!, retryable: false);
            }

            until = now + duration;
            context.Log.Info($"Waiting {Durations.Format(duration)}, until {until:O}.");
        }

        return Task.FromResult(now >= until
            ? StepResult.Succeeded()
            : StepResult.Suspend(until, new JsonObject { ["until"] = until }));
    }
}

/// <summary>
/// Waits for a person's decision through the API. Who may decide: members holding one of
/// <c>roles</c> (Viewer, Maintainer, Owner, or Approver for the project's approver right; the
/// default is Approver) or named in <c>approvers</c> (usernames). The engine delivers the decision
/// as a signal <c>{decision: "approved"|"rejected", by, at, comment}</c>.
/// </summary>
public sealed class ApprovalStep : StepType
{
    public const string TypeName = "approval";

    public static readonly IReadOnlyList<string> Roles = ["Viewer", "Maintainer", "Owner", "Approver"];

    public override string Name => TypeName;

    public override string Description => "Waits until a permitted member approves (the step succeeds) or rejects (it fails).";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("message", ParameterType.String, Required: true, Description: "What the approver is asked."),
        new("roles", ParameterType.Array, Default: new JsonArray("Approver"),
            Description: "Project roles that may decide: Viewer, Maintainer, Owner, Approver (the approver right)."),
        new("approvers", ParameterType.Array, Description: "Usernames that may decide, whatever their role."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("message", out var message) && message!.GetValue<string>() is var text
            && (string.IsNullOrWhiteSpace(text) || text.Length > 2000))
        {
            errors.Add(new StepParameterError("message", "The message must be 1 to 2000 characters."));
        }

        CheckNames(values, "roles", errors, role => Roles.Contains(role)
            ? null
            : $"Unknown role '{role}'; use {string.Join(", ", Roles)}.");
        CheckNames(values, "approvers", errors, name => name.Length is > 0 and <= 64 ? null : "A username is 1 to 64 characters.");
    }

    private static void CheckNames(IReadOnlyDictionary<string, JsonNode?> values, string parameter, List<StepParameterError> errors, Func<string, string?> check)
    {
        if (!values.TryGetValue(parameter, out var node) || node is not JsonArray list)
        {
            return;
        }

        if (list.Count == 0)
        {
            errors.Add(new StepParameterError(parameter, $"'{parameter}' must not be empty; leave it out for the default."));
        }

        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            var path = $"{parameter}[{i}]";
            if (StepTemplates.IsTemplated(list[i]))
            {
                continue;
            }

            if (list[i] is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.String)
            {
                errors.Add(new StepParameterError(path, "Must be a string."));
                continue;
            }

            var name = v.GetValue<string>();
            if (check(name) is { } problem)
            {
                errors.Add(new StepParameterError(path, problem));
            }
            else if (!seen.Add(name))
            {
                errors.Add(new StepParameterError(path, $"'{name}' is listed twice."));
            }
        }
    }

    public override Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Signal is not { } signal)
        {
            if (context.State is null)
            {
                context.Log.Info("Waiting for approval: " + context.Parameters["message"]?.GetValue<string>());
            }

            // The engine records the request from this state: who may decide is fixed when the step starts waiting.
            return Task.FromResult(StepResult.Suspend(null, context.State?.DeepClone() ?? new JsonObject
            {
                ["requestedAt"] = context.Clock.GetUtcNow(),
                ["message"] = context.Parameters["message"]?.DeepClone(),
                ["roles"] = context.Parameters["roles"]?.DeepClone() ?? new JsonArray("Approver"),
                ["approvers"] = context.Parameters["approvers"]?.DeepClone() ?? new JsonArray(),
            }));
        }

        var decision = signal["decision"]?.GetValue<string>();
        var by = signal["by"]?.GetValue<string>() ?? "unknown";
        var comment = signal["comment"]?.GetValue<string>();
        if (decision == "approved")
        {
            context.Log.Info($"Approved by {by}" + (comment is null ? "." : ": " + comment));
            return Task.FromResult(StepResult.Succeeded(new Dictionary<string, JsonNode?>
            {
                ["approvedBy"] = by,
                ["approvedAt"] = signal["at"]?.DeepClone(),
                ["comment"] = comment,
            }));
        }

        throw new StepFailedException($"Rejected by {by}" + (comment is null ? "." : ": " + comment), retryable: false);
    }
}
