using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace MlPlatform.Gateway.SecurityHeaders;

/// <summary>
/// Security headers on every response, errors included. API responses get a CSP that allows
/// nothing; the API reference under <see cref="PlatformEdge.DocsPath"/> gets one that allows its
/// own assets and, by hash, the inline script that starts it.
/// </summary>
internal sealed partial class SecurityHeadersMiddleware(RequestDelegate next, SecurityHeaderSettings settings)
{
    /// <summary>Pages larger than this are not scanned for inline scripts (the reference page is under 1 KB).</summary>
    private const int MaxScannedPageBytes = 256 * 1024;

    public Task InvokeAsync(HttpContext context)
    {
        var docs = context.Request.Path.StartsWithSegments(PlatformEdge.DocsPath, out var rest);
        // On starting, not now: the exception handler clears the headers of a failed response.
        context.Response.OnStarting(static state =>
        {
            var (middleware, context, docs) = ((SecurityHeadersMiddleware, HttpContext, bool))state;
            middleware.Apply(context, docs);
            return Task.CompletedTask;
        }, (this, context, docs));

        // Only the page itself can hold inline scripts; its assets (scalar.js, ...) stream through.
        return docs && !Path.HasExtension(rest.Value) ? BufferPageAsync(context) : next(context);
    }

    private async Task BufferPageAsync(HttpContext context)
    {
        var original = context.Response.Body;
        using var buffer = new MemoryStream();
        context.Response.Body = buffer;
        try
        {
            await next(context);
        }
        finally
        {
            context.Response.Body = original;
        }

        if (buffer.Length <= MaxScannedPageBytes && context.Response.ContentType?.StartsWith("text/html", StringComparison.OrdinalIgnoreCase) == true)
        {
            context.Features.Set(new InlineScripts(HashInlineScripts(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length))));
        }

        buffer.Position = 0;
        await buffer.CopyToAsync(original, context.RequestAborted);
    }

    private void Apply(HttpContext context, bool docs)
    {
        var headers = context.Response.Headers;
        Set(headers, HeaderNames.XContentTypeOptions, "nosniff");
        Set(headers, HeaderNames.XFrameOptions, settings.FrameOptions);
        Set(headers, "Referrer-Policy", settings.ReferrerPolicy);
        Set(headers, "Cross-Origin-Opener-Policy", settings.CrossOriginOpenerPolicy);
        Set(headers, "Permissions-Policy", settings.PermissionsPolicy);
        Set(headers, HeaderNames.ContentSecurityPolicy, docs
            ? WithScriptHashes(settings.DocsContentSecurityPolicy, context.Features.Get<InlineScripts>()?.Hashes ?? [])
            : settings.ContentSecurityPolicy);
        // Browsers ignore HSTS over plain HTTP, and sending it there would only mislead.
        if (context.Request.IsHttps)
        {
            Set(headers, HeaderNames.StrictTransportSecurity, settings.StrictTransportSecurity);
        }
    }

    /// <summary>An endpoint that sets its own value keeps it; an empty setting leaves the header out.</summary>
    private static void Set(IHeaderDictionary headers, string name, string value)
    {
        if (value.Length > 0 && !headers.ContainsKey(name))
        {
            headers[name] = value;
        }
    }

    /// <summary>CSP source expressions ('sha256-...') for each inline script of an HTML page.</summary>
    internal static IReadOnlyList<string> HashInlineScripts(string html) =>
        ScriptElement().Matches(html)
            .Where(m => !SourceAttribute().IsMatch(m.Groups["attributes"].Value) && m.Groups["body"].Length > 0)
            .Select(m => $"'sha256-{Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(m.Groups["body"].Value)))}'")
            .Distinct()
            .ToArray();

    /// <summary>Appends the hashes to the policy's script-src directive (a policy without one is left alone).</summary>
    internal static string WithScriptHashes(string policy, IReadOnlyList<string> hashes)
    {
        if (hashes.Count == 0)
        {
            return policy;
        }

        var directives = policy.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        for (var i = 0; i < directives.Length; i++)
        {
            if (directives[i] == "script-src" || directives[i].StartsWith("script-src ", StringComparison.Ordinal))
            {
                directives[i] += " " + string.Join(' ', hashes);
            }
        }

        return string.Join("; ", directives);
    }

    [GeneratedRegex(@"<script\b(?<attributes>[^>]*)>(?<body>.*?)</script\s*>", RegexOptions.Singleline | RegexOptions.IgnoreCase)]
    private static partial Regex ScriptElement();

    [GeneratedRegex(@"\bsrc\s*=", RegexOptions.IgnoreCase)]
    private static partial Regex SourceAttribute();

    private sealed record InlineScripts(IReadOnlyList<string> Hashes);
}
