namespace MlPlatform.Monitoring.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class MonitoringModuleInfo
{
    public const string Name = "Monitoring";
}
