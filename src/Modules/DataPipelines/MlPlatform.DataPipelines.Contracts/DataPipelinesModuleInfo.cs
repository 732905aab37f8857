namespace MlPlatform.DataPipelines.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class DataPipelinesModuleInfo
{
    public const string Name = "DataPipelines";
}
