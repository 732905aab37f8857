namespace MlPlatform.Workflows.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class WorkflowsModuleInfo
{
    public const string Name = "Workflows";
}
