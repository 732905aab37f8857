using MlPlatform.Benchmarks;

// dotnet run -c Release --project bench/MlPlatform.Benchmarks -- <suite> [options]
//   auth            [--seconds N] [--clients N]
//   registry        [--seconds N] [--rate N] [--postgres "<connection string>"]
//   workflow-chain  [--steps N (1000)] [--postgres "<connection string>"]
//   workflow-fanout [--steps N (10000)] [--postgres "<connection string>"]
//   validate        [--rows N] [--rounds N]
//   predict         [--seconds N] [--rounds N] [--spinning] [--intra-op N] [--only p1,p2,p5] [--p1-clients 1,4] [--loop N]
//   predict-path    [--iterations N]
//   predict-profile [--seconds N] [--loop N]
// With --postgres, the suite creates a database of its own on that server and drops it afterwards.
var suite = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal) && !IsOptionValue(args, a)) ?? "auth";
var postgres = Text(args, "--postgres");

switch (suite)
{
    case "auth":
        await AuthBenchmark.RunAsync(TimeSpan.FromSeconds(Option(args, "--seconds", 5)), Option(args, "--clients", 16));
        break;
    case "registry":
        await RegistryBenchmark.RunAsync(postgres, Option(args, "--rate", 500), TimeSpan.FromSeconds(Option(args, "--seconds", 10)));
        break;
    case "workflow-chain":
        await WorkflowChainBenchmark.RunAsync(postgres, Option(args, "--steps", 1000));
        break;
    case "workflow-fanout":
        await WorkflowFanOutBenchmark.RunAsync(postgres, Option(args, "--steps", 10_000));
        break;
    case "validate":
        await ValidateBenchmark.RunAsync(Option(args, "--rows", 1_000_000), Option(args, "--rounds", 3));
        break;
    case "predict":
        await PredictBenchmark.RunAsync(new PredictBenchmark.Options(
            TimeSpan.FromSeconds(Option(args, "--seconds", 5)),
            Option(args, "--rounds", 2),
            args.Contains("--spinning"),
            Option(args, "--intra-op", 0),
            Text(args, "--only"),
            TimeSpan.FromSeconds(Option(args, "--loop", 0)),
            [.. (Text(args, "--p1-clients") ?? "1,4").Split(',').Select(c => int.Parse(c, System.Globalization.CultureInfo.InvariantCulture))]));
        break;
    case "predict-path":
        PredictPathBenchmark.Run(Option(args, "--iterations", 200_000));
        break;
    case "predict-profile":
        await PredictProfileBenchmark.RunAsync(TimeSpan.FromSeconds(Option(args, "--seconds", 20)), TimeSpan.FromSeconds(Option(args, "--loop", 0)));
        break;
    default:
        Console.Error.WriteLine($"Unknown suite '{suite}'. Suites: auth, registry, workflow-chain, workflow-fanout, validate, predict, predict-path, predict-profile");
        return 2;
}

return 0;

static int Option(string[] args, string name, int fallback) =>
    int.TryParse(Text(args, name), out var value) ? value : fallback;

static string? Text(string[] args, string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

// The value after an option (a connection string, a number) is not the suite's name.
static bool IsOptionValue(string[] args, string value)
{
    var index = Array.IndexOf(args, value);
    return index > 0 && args[index - 1].StartsWith("--", StringComparison.Ordinal);
}
