namespace MlPlatform.ModelRegistry.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class ModelRegistryModuleInfo
{
    public const string Name = "ModelRegistry";
}
