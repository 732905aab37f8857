using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace MlPlatform.Workflows.Contracts.StepTypes;

/// <summary>
/// Durations in definitions: whole numbers with units, largest first (<c>2d</c>, <c>1h30m</c>,
/// <c>90s</c>, <c>250ms</c>), or a time span <c>hh:mm:ss</c>. One format for every duration
/// (timeouts, retry backoff, <c>wait</c>), capped at 365 days.
/// </summary>
public static partial class Durations
{
    public static readonly TimeSpan Max = TimeSpan.FromDays(365);

    [GeneratedRegex(@"^(?:(?<d>\d{1,6})d)?(?:(?<h>\d{1,7})h)?(?:(?<m>\d{1,9})m(?!s))?(?:(?<s>\d{1,11})s)?(?:(?<ms>\d{1,13})ms)?$", RegexOptions.CultureInvariant)]
    private static partial Regex UnitsPattern();

    [GeneratedRegex(@"^\d{1,2}:\d{2}:\d{2}(?:\.\d{1,7})?$", RegexOptions.CultureInvariant)]
    private static partial Regex ClockPattern();

    public static bool TryParse(string? text, out TimeSpan duration, out string? error)
    {
        duration = TimeSpan.Zero;
        error = null;
        if (string.IsNullOrEmpty(text))
        {
            error = "A duration is required, e.g. '30s', '5m', '1h30m' or '00:05:00'.";
            return false;
        }

        if (ClockPattern().IsMatch(text) && TimeSpan.TryParseExact(text, "c", CultureInfo.InvariantCulture, out duration))
        {
            return true;
        }

        var match = UnitsPattern().Match(text);
        if (text.Length > 40 || !match.Success)
        {
            error = $"'{Shorten(text)}' is not a duration: use whole numbers with units d, h, m, s, ms (e.g. '90s', '1h30m', '250ms') or 'hh:mm:ss'.";
            return false;
        }

        decimal milliseconds = 0;
        milliseconds += Part(match, "d") * 86_400_000m;
        milliseconds += Part(match, "h") * 3_600_000m;
        milliseconds += Part(match, "m") * 60_000m;
        milliseconds += Part(match, "s") * 1_000m;
        milliseconds += Part(match, "ms");
        if (milliseconds > (decimal)Max.TotalMilliseconds)
        {
            error = $"'{text}' is longer than the maximum of 365 days.";
            return false;
        }

        duration = TimeSpan.FromMilliseconds((double)milliseconds);
        return true;
    }

    public static TimeSpan Parse(string text) =>
        TryParse(text, out var duration, out var error) ? duration : throw new FormatException(error);

    /// <summary>The canonical form (<c>1h30m</c>, <c>250ms</c>, <c>0s</c>), so equal durations store equally.</summary>
    public static string Format(TimeSpan duration)
    {
        if (duration <= TimeSpan.Zero)
        {
            return "0s";
        }

        var text = new StringBuilder();
        Append(text, duration.Days, "d");
        Append(text, duration.Hours, "h");
        Append(text, duration.Minutes, "m");
        Append(text, duration.Seconds, "s");
        Append(text, duration.Milliseconds, "ms");
        return text.Length == 0 ? "0s" : text.ToString();
    }

    private static void Append(StringBuilder text, int value, string unit)
    {
        if (value > 0)
        {
            text.Append(value.ToString(CultureInfo.InvariantCulture)).Append(unit);
        }
    }

    private static decimal Part(Match match, string group) =>
        match.Groups[group].Success ? decimal.Parse(match.Groups[group].Value, CultureInfo.InvariantCulture) : 0m;

    private static string Shorten(string text) => text.Length <= 40 ? text : text[..40] + "…";
}
