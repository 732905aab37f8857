using System.Globalization;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.ClusterTestHost;

/// <summary>
/// A workflow step that writes which process runs it (to <c>{pidDir}/{runId}-{stepId}-{attempt}.pid</c>)
/// and then sleeps <c>ms</c>, so a test can kill the host that runs it.
/// </summary>
public sealed class ProbeSleepStep : StepType
{
    public override string Name => "probe.sleep";

    public override string Description => "Records the process id and sleeps.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("ms", ParameterType.Int, Required: true, Description: "How long to sleep."),
        new("pidDir", ParameterType.String, Required: true, Description: "Where to write the pid file."),
    ];

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var file = Path.Combine(context.Parameters["pidDir"]!.GetValue<string>(), $"{context.RunId}-{context.StepId}-{context.Attempt}.pid");
        await File.WriteAllTextAsync(file, Environment.ProcessId.ToString(CultureInfo.InvariantCulture), cancellationToken);
        var ms = ParameterTypes.TryGetNumber(context.Parameters["ms"], out var n) ? (int)n : 0;
        await Task.Delay(ms, cancellationToken);
        return StepResult.Succeeded();
    }
}
