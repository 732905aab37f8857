using System.Text.Json;

namespace MlPlatform.SharedKernel.Errors;

/// <summary>
/// System.Text.Json checks a body's structure when it parses it, not its strings: a string that is
/// not valid UTF-8, or that escapes half a surrogate pair (<c>"\ud800"</c>), throws only when it is
/// read, in whichever handler reads a JSON value or a property's name. That is the caller's text, so
/// both error writers (problem+json and the V2 data plane's) answer it as a 400 with this detail.
/// </summary>
public static class UndecodableJsonText
{
    public static bool Is(Exception exception) =>
        exception is InvalidOperationException
        && exception.TargetSite?.DeclaringType?.Assembly == typeof(JsonException).Assembly
        && (exception.InnerException is System.Text.DecoderFallbackException || exception.Message.Contains("UTF-16", StringComparison.Ordinal));

    public static string Detail(Exception exception) =>
        "The request body holds text that is not valid UTF-8 or Unicode: " + exception.Message;
}
