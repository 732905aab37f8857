using System.Globalization;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.Gateway.Configuration;

/// <summary>Reads one section's values; a value it cannot use fails start-up naming the full setting.</summary>
internal sealed class SettingsReader(IConfiguration configuration, string section)
{
    public string Key(string name) => section + ":" + name;

    public SettingsReader Section(string name) => new(configuration, Key(name));

    /// <summary>Null when the setting is absent; an empty string is kept (it turns a header off).</summary>
    public string? String(string name) => configuration[Key(name)];

    public string String(string name, string fallback) => String(name) ?? fallback;

    public bool Bool(string name, bool fallback)
    {
        var text = String(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return bool.TryParse(text, out var value) ? value : throw Invalid(name, $"'{text}' is not true or false.");
    }

    public long Long(string name, long fallback, long min, long max = long.MaxValue)
    {
        var text = String(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= min && value <= max
            ? value
            : throw Invalid(name, $"'{text}' is not a whole number between {min} and {max}.");
    }

    public int Int(string name, int fallback, int min, int max = int.MaxValue) => (int)Long(name, fallback, min, max);

    public double Double(string name, double fallback, double minExclusive, double max)
    {
        var text = String(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && value > minExclusive && value <= max
            ? value
            : throw Invalid(name, $"'{text}' is not a number above {minExclusive} and at most {max}.");
    }

    public TimeSpan Duration(string name, TimeSpan fallback, TimeSpan min, TimeSpan? max = null)
    {
        var text = String(name);
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        var upper = max ?? TimeSpan.FromDays(1);
        return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value >= min && value <= upper
            ? value
            : throw Invalid(name, $"'{text}' is not a duration (hh:mm:ss) between {min} and {upper}.");
    }

    /// <summary>A JSON array, or one comma-separated string (easier in environment variables); absent gives the fallback.</summary>
    public IReadOnlyList<string> List(string name, IReadOnlyList<string> fallback)
    {
        var list = configuration.GetSection(Key(name));
        if (list.Value is { } single)
        {
            return single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        }

        var children = list.GetChildren().ToList();
        return children.Count == 0
            ? fallback
            : children.Select(c => c.Value?.Trim() ?? string.Empty).Where(v => v.Length > 0).ToArray();
    }

    public InvalidConfigurationException Invalid(string name, string problem) => new(Key(name), problem);
}
