using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.StepTypes;

/// <summary>
/// Every <see cref="IStepType"/> registered in the host, by name. Built at start (see
/// <see cref="StepTypeRegistryCheck"/>) so a bad or duplicate name stops the host rather than a submit.
/// </summary>
public sealed class StepTypeRegistry : IStepTypeRegistry
{
    private readonly Dictionary<string, IStepType> _byName = new(StringComparer.Ordinal);

    public StepTypeRegistry(IEnumerable<IStepType> stepTypes)
    {
        ArgumentNullException.ThrowIfNull(stepTypes);
        foreach (var stepType in stepTypes)
        {
            if (!StepTypeNames.Pattern().IsMatch(stepType.Name))
            {
                throw new InvalidOperationException(
                    $"Step type {stepType.GetType().FullName} has the invalid name '{stepType.Name}': use lower-case words joined by dots, e.g. 'model.train'.");
            }

            if (!_byName.TryAdd(stepType.Name, stepType) && !ReferenceEquals(_byName[stepType.Name], stepType))
            {
                throw new InvalidOperationException(
                    $"Two step types are named '{stepType.Name}': {_byName[stepType.Name].GetType().FullName} and {stepType.GetType().FullName}.");
            }
        }

        All = _byName.Values.OrderBy(t => t.Name, StringComparer.Ordinal).ToArray();
    }

    public IReadOnlyList<IStepType> All { get; }

    public IStepType? Find(string name) => _byName.GetValueOrDefault(name);
}

/// <summary>Builds the registry when the host starts, so a naming conflict between modules fails start-up.</summary>
internal sealed class StepTypeRegistryCheck(IStepTypeRegistry registry) : Microsoft.Extensions.Hosting.IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        // Resolving the registry (injected above) is the check; nothing else to do.
        _ = registry.All;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
