namespace MlPlatform.Gateway.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class GatewayModuleInfo
{
    public const string Name = "Gateway";
}
