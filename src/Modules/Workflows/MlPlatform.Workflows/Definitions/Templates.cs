using System.Text.RegularExpressions;

namespace MlPlatform.Workflows.Definitions;

public enum TemplateKind
{
    /// <summary><c>${steps.&lt;id&gt;.outputs.&lt;name&gt;[.&lt;field&gt;...]}</c></summary>
    StepOutput,

    /// <summary><c>${params.&lt;name&gt;[.&lt;field&gt;...]}</c></summary>
    Parameter,

    /// <summary><c>${run.id}</c>, <c>${run.workflow}</c>, <c>${run.version}</c>, <c>${run.scheduledAt}</c></summary>
    Run,
}

/// <summary>One <c>${...}</c> reference. <see cref="Name"/> is the step id, parameter name or run field.</summary>
public sealed record TemplateReference(TemplateKind Kind, string Name, string? Output, IReadOnlyList<string> Path, string Text);

/// <summary>A piece of a templated string: literal text or a reference.</summary>
public sealed record TemplatePart(string? Literal, TemplateReference? Reference);

/// <summary>
/// The template syntax of step params and <c>when</c> conditions, in one place so the validator and
/// (later) the run engine read it the same way.
/// </summary>
public static partial class Templates
{
    /// <summary>Run fields a template may use.</summary>
    public static IReadOnlyList<string> RunFields { get; } = ["id", "workflow", "version", "scheduledAt"];

    [GeneratedRegex("^[A-Za-z0-9_-]+$", RegexOptions.CultureInvariant)]
    private static partial Regex Segment();

    /// <summary>
    /// Splits <paramref name="text"/> into literals and references. Returns false with
    /// <paramref name="error"/> for an unterminated or malformed template.
    /// </summary>
    public static bool TryParse(string text, out IReadOnlyList<TemplatePart> parts, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        var result = new List<TemplatePart>();
        var literal = new System.Text.StringBuilder();
        parts = result;
        error = null;
        var i = 0;
        while (i < text.Length)
        {
            if (text[i] == '$' && Next(text, i + 1) == '$' && Next(text, i + 2) == '{')
            {
                // "$${" is an escaped "${".
                literal.Append("${");
                i += 3;
                continue;
            }

            if (text[i] == '$' && Next(text, i + 1) == '{')
            {
                var end = text.IndexOf('}', i + 2);
                if (end < 0)
                {
                    error = $"Unterminated template starting at '{Excerpt(text, i)}': a '}}' is missing.";
                    return false;
                }

                var inner = text[(i + 2)..end];
                if (!TryParseReference(inner, text[i..(end + 1)], out var reference, out error))
                {
                    return false;
                }

                if (literal.Length > 0)
                {
                    result.Add(new TemplatePart(literal.ToString(), null));
                    literal.Clear();
                }

                result.Add(new TemplatePart(null, reference));
                i = end + 1;
                continue;
            }

            literal.Append(text[i]);
            i++;
        }

        if (literal.Length > 0)
        {
            result.Add(new TemplatePart(literal.ToString(), null));
        }

        return true;
    }

    /// <summary>Parses the inside of <c>${...}</c>, e.g. <c>steps.train.outputs.model_uri</c>.</summary>
    public static bool TryParseReference(string inner, string text, out TemplateReference? reference, out string? error)
    {
        reference = null;
        error = null;
        var segments = inner.Trim().Split('.');
        if (segments.Any(s => !Segment().IsMatch(s)))
        {
            error = $"'{text}' is not a valid template: use ${{steps.<id>.outputs.<name>}}, ${{params.<name>}} or ${{run.id}}.";
            return false;
        }

        switch (segments[0])
        {
            case "steps" when segments.Length >= 4 && segments[2] == "outputs":
                reference = new TemplateReference(TemplateKind.StepOutput, segments[1], segments[3], segments[4..], text);
                return true;
            case "steps":
                error = $"'{text}' is not a valid step reference: use ${{steps.<id>.outputs.<name>}}.";
                return false;
            case "params" when segments.Length >= 2:
                reference = new TemplateReference(TemplateKind.Parameter, segments[1], null, segments[2..], text);
                return true;
            case "params":
                error = $"'{text}' is not a valid parameter reference: use ${{params.<name>}}.";
                return false;
            case "run" when segments.Length == 2 && RunFields.Contains(segments[1]):
                reference = new TemplateReference(TemplateKind.Run, segments[1], null, [], text);
                return true;
            case "run":
                error = $"'{text}' is not a known run field; use one of {string.Join(", ", RunFields.Select(f => "${run." + f + "}"))}.";
                return false;
            default:
                error = $"'{text}' refers to '{segments[0]}', which templates do not know: use ${{steps.<id>.outputs.<name>}}, ${{params.<name>}} or ${{run.id}}.";
                return false;
        }
    }

    private static char Next(string text, int index) => index < text.Length ? text[index] : '\0';

    private static string Excerpt(string text, int from) => text.Length - from <= 30 ? text[from..] : text.Substring(from, 30) + "…";
}
