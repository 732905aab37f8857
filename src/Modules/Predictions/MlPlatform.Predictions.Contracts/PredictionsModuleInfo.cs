namespace MlPlatform.Predictions.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class PredictionsModuleInfo
{
    public const string Name = "Predictions";
}
