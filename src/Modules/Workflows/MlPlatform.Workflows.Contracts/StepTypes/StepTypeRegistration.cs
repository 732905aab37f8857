using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;

namespace MlPlatform.Workflows.Contracts.StepTypes;

/// <summary>Resolves step types by name; the Workflows module provides it.</summary>
public interface IStepTypeRegistry
{
    /// <summary>The step type named <paramref name="name"/>, or null.</summary>
    IStepType? Find(string name);

    /// <summary>Every registered step type, ordered by name.</summary>
    IReadOnlyList<IStepType> All { get; }
}

public static partial class StepTypeNames
{
    /// <summary>Lower-case words of letters, digits and '_' joined by dots: <c>noop</c>, <c>model.train</c>, <c>data.validate_schema</c>.</summary>
    [GeneratedRegex(@"^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39}){0,3}$", RegexOptions.CultureInvariant)]
    public static partial Regex Pattern();
}

public static class StepTypeRegistration
{
    /// <summary>
    /// Registers a step type as a singleton, available to definitions by its name in every host
    /// that runs the Workflows module. Two types with one name stop the host at start.
    /// </summary>
    public static IServiceCollection AddStepType<T>(this IServiceCollection services)
        where T : class, IStepType
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(T)))
        {
            return services;
        }

        services.AddSingleton<T>();
        services.AddSingleton<IStepType>(sp => sp.GetRequiredService<T>());
        return services;
    }
}
