using MlPlatform.Benchmarks;

// dotnet run -c Release --project bench/MlPlatform.Benchmarks -- [auth] [--seconds N] [--clients N]
var suite = args.FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "auth";
var seconds = Option(args, "--seconds", 5);
var clients = Option(args, "--clients", 16);

switch (suite)
{
    case "auth":
        await AuthBenchmark.RunAsync(TimeSpan.FromSeconds(seconds), clients);
        break;
    default:
        Console.Error.WriteLine($"Unknown suite '{suite}'. Suites: auth");
        return 2;
}

return 0;

static int Option(string[] args, string name, int fallback)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length && int.TryParse(args[index + 1], out var value) ? value : fallback;
}
