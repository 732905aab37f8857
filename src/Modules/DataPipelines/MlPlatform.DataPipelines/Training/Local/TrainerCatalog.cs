using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training.Local;

/// <summary>One hyper-parameter a local trainer accepts, with its range.</summary>
internal sealed record HyperparameterSpec(string Name, bool Integer, double Min, double Max, string Description)
{
    public string? Check(JsonNode? value)
    {
        if (!ParameterTypes.TryGetNumber(value, out var number))
        {
            return $"'{Name}' must be a number.";
        }

        if (Integer && Math.Floor(number) != number)
        {
            return $"'{Name}' must be a whole number.";
        }

        return number < Min || number > Max ? $"'{Name}' must be between {Min} and {Max}." : null;
    }
}

/// <summary>The ML.NET trainers of the local backend and the hyper-parameters each accepts (names as in ML.NET's options).</summary>
internal static class TrainerCatalog
{
    public const string Sdca = "sdca";
    public const string FastTree = "fasttree";
    public const string LightGbm = "lightgbm";

    public static IReadOnlyList<string> Names { get; } = [Sdca, FastTree, LightGbm];

    private static readonly HyperparameterSpec LearningRate = new("learningRate", false, 1e-6, 1, "Shrinkage of each boosting step.");
    private static readonly HyperparameterSpec Leaves = new("numberOfLeaves", true, 2, 4096, "Maximum leaves per tree.");
    private static readonly HyperparameterSpec MinLeaf = new("minimumExampleCountPerLeaf", true, 1, 1_000_000, "Fewest rows a leaf may hold.");

    public static IReadOnlyDictionary<string, IReadOnlyList<HyperparameterSpec>> Hyperparameters { get; } = new Dictionary<string, IReadOnlyList<HyperparameterSpec>>
    {
        [Sdca] =
        [
            new("l2Regularization", false, 0, 1e6, "L2 penalty."),
            new("l1Regularization", false, 0, 1e6, "L1 penalty."),
            new("maximumNumberOfIterations", true, 1, 100_000, "Passes over the data."),
        ],
        [FastTree] = [Leaves, new("numberOfTrees", true, 1, 100_000, "Trees in the ensemble."), MinLeaf, LearningRate],
        [LightGbm] = [Leaves, new("numberOfIterations", true, 1, 100_000, "Boosting rounds."), MinLeaf, LearningRate],
    };

    /// <summary>Unknown trainer or hyper-parameter names and out-of-range values, as step param errors.</summary>
    public static void Validate(string? trainer, JsonObject? hyperparameters, List<StepParameterError> errors)
    {
        if (trainer is null)
        {
            return;
        }

        if (!Hyperparameters.TryGetValue(trainer, out var specs))
        {
            errors.Add(new StepParameterError("trainer", $"Unknown trainer '{trainer}' for the local backend (known: {string.Join(", ", Names)})."));
            return;
        }

        foreach (var (name, value) in hyperparameters ?? [])
        {
            var spec = specs.FirstOrDefault(s => s.Name == name);
            if (spec is null)
            {
                errors.Add(new StepParameterError($"hyperparameters.{name}", $"Unknown hyper-parameter '{name}' for {trainer} (known: {string.Join(", ", specs.Select(s => s.Name))})."));
            }
            else if (!StepTemplates.IsTemplated(value) && spec.Check(value) is { } problem)
            {
                errors.Add(new StepParameterError($"hyperparameters.{name}", problem));
            }
        }
    }

    public static int? Int(JsonObject hyperparameters, string name) =>
        ParameterTypes.TryGetNumber(hyperparameters[name], out var value) ? (int)value : null;

    public static double? Number(JsonObject hyperparameters, string name) =>
        ParameterTypes.TryGetNumber(hyperparameters[name], out var value) ? value : null;
}
