using System.Globalization;
using System.Text;

namespace MlPlatform.UnitTests.Training;

/// <summary>Generated tabular data with a known relation, fixed seed: two numbers, a category, and labels for each task.</summary>
public static class SampleData
{
    public static string Csv(int rows = 300, int seed = 11)
    {
        var random = new Random(seed);
        var text = new StringBuilder("x1,x2,colour,churn,segment,spend\n");
        string[] colours = ["red", "green", "blue"];
        for (var i = 0; i < rows; i++)
        {
            var x1 = random.NextDouble() * 2 - 1;
            var x2 = random.NextDouble() * 2 - 1;
            var colour = colours[random.Next(colours.Length)];
            var shift = colour switch { "red" => 0.8, "green" => -0.4, _ => 0.0 };
            var noise = (random.NextDouble() - 0.5) * 0.4;
            var churn = 1.5 * x1 - x2 + shift + noise > 0;
            var segment = x1 + noise > 0.3 ? "gold" : x2 > 0 ? "silver" : "bronze";
            var spend = 3 * x1 - 2 * x2 + shift * 2 + noise + 10;
            text.Append(CultureInfo.InvariantCulture, $"{x1:R},{x2:R},{colour},{(churn ? "yes" : "no")},{segment},{spend:R}\n");
        }

        return text.ToString();
    }

    /// <summary>The label column of each task in <see cref="Csv"/>; the other two label columns are dropped from the features.</summary>
    public static (string Label, string[] Features) For(string task) => task switch
    {
        "binary" => ("churn", ["x1", "x2", "colour"]),
        "multiclass" => ("segment", ["x1", "x2", "colour"]),
        _ => ("spend", ["x1", "x2", "colour"]),
    };
}
