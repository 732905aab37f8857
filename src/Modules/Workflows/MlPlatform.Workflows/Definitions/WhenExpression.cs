using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Workflows.Definitions;

/// <summary>
/// A step's <c>when</c> condition: templates, literals (numbers, 'strings' or "strings", true,
/// false, null), comparisons <c>== != &lt; &lt;= &gt; &gt;=</c>, <c>!</c>, <c>&amp;&amp;</c>, <c>||</c>
/// and parentheses. E.g. <c>${steps.evaluate.outputs.accuracy} &gt;= 0.9 &amp;&amp; ${params.deploy}</c>.
/// Parsed at submit (syntax and references are validated then); evaluated when the step is ready.
/// </summary>
public abstract record WhenExpression
{
    public sealed record Literal(JsonNode? Value) : WhenExpression;

    public sealed record Reference(TemplateReference Template) : WhenExpression;

    public sealed record Not(WhenExpression Operand) : WhenExpression;

    public sealed record Binary(string Operator, WhenExpression Left, WhenExpression Right) : WhenExpression;

    public static bool TryParse(string text, out WhenExpression? expression, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        try
        {
            var parser = new Parser(text);
            expression = parser.ParseAll();
            error = null;
            return true;
        }
        catch (FormatException ex)
        {
            expression = null;
            error = ex.Message;
            return false;
        }
    }

    /// <summary>Every template the condition uses.</summary>
    public IEnumerable<TemplateReference> References() => this switch
    {
        Reference r => [r.Template],
        Not n => n.Operand.References(),
        Binary b => b.Left.References().Concat(b.Right.References()),
        _ => [],
    };

    /// <summary>Evaluates with <paramref name="resolve"/> supplying template values; throws <see cref="InvalidOperationException"/> on incomparable values.</summary>
    public bool Evaluate(Func<TemplateReference, JsonNode?> resolve)
    {
        ArgumentNullException.ThrowIfNull(resolve);
        return Truthy(ValueOf(this, resolve));
    }

    private static JsonNode? ValueOf(WhenExpression expression, Func<TemplateReference, JsonNode?> resolve) => expression switch
    {
        Literal l => l.Value,
        Reference r => resolve(r.Template),
        Not n => JsonValue.Create(!Truthy(ValueOf(n.Operand, resolve))),
        Binary { Operator: "&&" } b => JsonValue.Create(Truthy(ValueOf(b.Left, resolve)) && Truthy(ValueOf(b.Right, resolve))),
        Binary { Operator: "||" } b => JsonValue.Create(Truthy(ValueOf(b.Left, resolve)) || Truthy(ValueOf(b.Right, resolve))),
        Binary b => JsonValue.Create(Compare(b.Operator, ValueOf(b.Left, resolve), ValueOf(b.Right, resolve))),
        _ => throw new InvalidOperationException("Unknown expression."),
    };

    private static bool Truthy(JsonNode? value) => value?.GetValueKind() switch
    {
        null or JsonValueKind.Null or JsonValueKind.False => false,
        JsonValueKind.True => true,
        JsonValueKind.Number => ParameterTypes.TryGetNumber(value, out var d) && d != 0,
        JsonValueKind.String => value.GetValue<string>().Length > 0,
        _ => true,
    };

    private static bool Compare(string op, JsonNode? left, JsonNode? right)
    {
        if (op is "==" or "!=")
        {
            var equal = ParameterTypes.TryGetNumber(left, out var a) && ParameterTypes.TryGetNumber(right, out var b)
                ? a.Equals(b)
                : JsonNode.DeepEquals(left, right);
            return op == "==" ? equal : !equal;
        }

        int order;
        if (ParameterTypes.TryGetNumber(left, out var x) && ParameterTypes.TryGetNumber(right, out var y))
        {
            order = x.CompareTo(y);
        }
        else if (left?.GetValueKind() == JsonValueKind.String && right?.GetValueKind() == JsonValueKind.String)
        {
            order = string.CompareOrdinal(left.GetValue<string>(), right.GetValue<string>());
        }
        else
        {
            throw new InvalidOperationException(
                $"Cannot compare {left?.ToJsonString() ?? "null"} {op} {right?.ToJsonString() ?? "null"}: '{op}' needs two numbers or two strings.");
        }

        return op switch
        {
            "<" => order < 0,
            "<=" => order <= 0,
            ">" => order > 0,
            _ => order >= 0,
        };
    }

    private sealed class Parser(string text)
    {
        private const int MaxNesting = 64;
        private int _position;
        private int _nesting;

        public WhenExpression ParseAll()
        {
            var expression = ParseOr();
            SkipSpace();
            if (_position < text.Length)
            {
                throw Fail($"unexpected '{Excerpt()}'");
            }

            return expression;
        }

        private WhenExpression ParseOr()
        {
            var left = ParseAnd();
            while (TryTake("||"))
            {
                left = new Binary("||", left, ParseAnd());
            }

            return left;
        }

        private WhenExpression ParseAnd()
        {
            var left = ParseUnary();
            while (TryTake("&&"))
            {
                left = new Binary("&&", left, ParseUnary());
            }

            return left;
        }

        private WhenExpression ParseUnary()
        {
            SkipSpace();
            if (Peek() == '!' && Peek(1) != '=')
            {
                _position++;
                Nest();
                var operand = new Not(ParseUnary());
                _nesting--;
                return operand;
            }

            var left = ParseOperand();
            foreach (var op in new[] { "==", "!=", "<=", ">=", "<", ">" })
            {
                if (TryTake(op))
                {
                    return new Binary(op, left, ParseOperand());
                }
            }

            return left;
        }

        private WhenExpression ParseOperand()
        {
            SkipSpace();
            var c = Peek();
            if (c == '(')
            {
                _position++;
                Nest();
                var inner = ParseOr();
                if (!TryTake(")"))
                {
                    throw Fail("a ')' is missing");
                }

                _nesting--;
                return inner;
            }

            if (c == '$' && Peek(1) == '{')
            {
                var end = text.IndexOf('}', _position);
                if (end < 0)
                {
                    throw Fail("a template is not closed with '}'");
                }

                var template = text[_position..(end + 1)];
                if (!Templates.TryParseReference(template[2..^1], template, out var reference, out var error))
                {
                    throw new FormatException(error);
                }

                _position = end + 1;
                return new Reference(reference!);
            }

            if (c is '\'' or '"')
            {
                return new Literal(JsonValue.Create(ReadString(c)));
            }

            if (c == '-' || char.IsAsciiDigit(c))
            {
                var start = _position;
                _position++;
                while (_position < text.Length && (char.IsAsciiDigit(text[_position]) || text[_position] is '.' or 'e' or 'E' or '+' or '-'))
                {
                    _position++;
                }

                var number = text[start.._position];
                if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
                {
                    throw Fail($"'{number}' is not a number");
                }

                return new Literal(JsonValue.Create(value));
            }

            foreach (var (word, value) in new (string, JsonNode?)[] { ("true", JsonValue.Create(true)), ("false", JsonValue.Create(false)), ("null", null) })
            {
                if (string.CompareOrdinal(text, _position, word, 0, word.Length) == 0
                    && (_position + word.Length == text.Length || !char.IsAsciiLetterOrDigit(text[_position + word.Length])))
                {
                    _position += word.Length;
                    return new Literal(value);
                }
            }

            throw Fail(_position >= text.Length ? "the condition ends too early" : $"unexpected '{Excerpt()}'");
        }

        private string ReadString(char quote)
        {
            var value = new StringBuilder();
            _position++;
            while (_position < text.Length)
            {
                var c = text[_position++];
                if (c == quote)
                {
                    return value.ToString();
                }

                if (c == '\\' && _position < text.Length)
                {
                    c = text[_position++];
                }

                value.Append(c);
            }

            throw Fail("a string is not closed");
        }

        private void Nest()
        {
            if (++_nesting > MaxNesting)
            {
                throw Fail($"it is nested deeper than {MaxNesting} levels");
            }
        }

        private bool TryTake(string token)
        {
            SkipSpace();
            if (string.CompareOrdinal(text, _position, token, 0, token.Length) == 0)
            {
                _position += token.Length;
                return true;
            }

            return false;
        }

        private void SkipSpace()
        {
            while (_position < text.Length && char.IsWhiteSpace(text[_position]))
            {
                _position++;
            }
        }

        private char Peek(int ahead = 0) => _position + ahead < text.Length ? text[_position + ahead] : '\0';

        private string Excerpt() => text.Length - _position <= 20 ? text[_position..] : text.Substring(_position, 20) + "…";

        private FormatException Fail(string problem) =>
            new($"The condition is not valid at character {_position + 1}: {problem}.");
    }
}
