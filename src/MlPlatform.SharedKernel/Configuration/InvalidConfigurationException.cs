namespace MlPlatform.SharedKernel.Configuration;

/// <summary>Start-up refuses to run with a setting it cannot use; the message names the setting.</summary>
public sealed class InvalidConfigurationException(string setting, string problem)
    : Exception($"Invalid configuration '{setting}': {problem}")
{
    public string Setting { get; } = setting;
}
