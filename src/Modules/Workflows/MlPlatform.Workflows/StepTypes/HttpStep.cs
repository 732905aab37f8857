using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.Workflows.Contracts.StepTypes;
using System.Net.Http;

namespace MlPlatform.Workflows.StepTypes;

/// <summary>
/// <c>Workflows:Http:AllowedHosts</c>: the only hosts an <c>http</c> step may call. Entries are
/// host names (<c>api.example.com</c>), sub-domain wildcards (<c>*.example.com</c>) or either with
/// a port (<c>localhost:8080</c>, then only that port). Empty (the default): no http step is allowed.
/// </summary>
public sealed record HttpStepOptions(IReadOnlyList<string> AllowedHosts)
{
    public const string Setting = "Workflows:Http:AllowedHosts";

    public static HttpStepOptions Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        // Accept a list (JSON array, or Workflows__Http__AllowedHosts__0=… in the environment) and a
        // comma-separated string, from every source at once: appsettings.json's empty list "[]" gives
        // the section the value "", which must not hide entries that another source adds.
        var section = configuration.GetSection(Setting);
        var values = section.GetChildren().Select(c => c.Value)
            .Append(section.Value)
            .SelectMany(v => (v ?? string.Empty).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Distinct(StringComparer.OrdinalIgnoreCase)
            .ToArray();
        foreach (var value in values)
        {
            var host = value.StartsWith("*.", StringComparison.Ordinal) ? value[2..] : value;
            if (Uri.CheckHostName(HostPart(host)) == UriHostNameType.Unknown || host.Contains('/', StringComparison.Ordinal))
            {
                throw new InvalidConfigurationException(Setting, $"'{value}' is not a host name, '*.domain' or 'host:port'.");
            }
        }

        return new HttpStepOptions(values.Select(v => v.ToLowerInvariant()).ToArray());
    }

    /// <summary>True when <paramref name="uri"/>'s host (and port, if the entry names one) is on the list.</summary>
    public bool Allows(Uri uri)
    {
        ArgumentNullException.ThrowIfNull(uri);
        var host = uri.IdnHost.ToLowerInvariant();
        foreach (var entry in AllowedHosts)
        {
            var pattern = entry;
            string? port = null;
            var colon = entry.LastIndexOf(':');
            if (colon > 0 && !entry.EndsWith(']') && entry.Count(c => c == ':') == 1)
            {
                pattern = entry[..colon];
                port = entry[(colon + 1)..];
            }

            if (port is not null && port != uri.Port.ToString(System.Globalization.CultureInfo.InvariantCulture))
            {
                continue;
            }

            if (pattern.StartsWith("*.", StringComparison.Ordinal)
                ? host.EndsWith(pattern[1..], StringComparison.Ordinal) && host.Length > pattern.Length - 1
                : host == pattern.Trim('[', ']'))
            {
                return true;
            }
        }

        return false;
    }

    private static string HostPart(string entry)
    {
        var colon = entry.LastIndexOf(':');
        return colon > 0 && entry.Count(c => c == ':') == 1 && int.TryParse(entry[(colon + 1)..], out var port) && port is > 0 and < 65536
            ? entry[..colon]
            : entry.Trim('[', ']');
    }
}

/// <summary>
/// Calls a URL whose host is on <see cref="HttpStepOptions.AllowedHosts"/>. Validation at submit
/// checks the URL, method, headers and host; the executor checks the resolved URL again, so a
/// host that comes from a template is held to the allow-list too.
/// </summary>
public sealed class HttpStep(HttpStepOptions options, IHttpClientFactory clients) : StepType
{
    /// <summary>The named client: no redirects (a redirect could leave the allow-list), no cookies.</summary>
    public const string ClientName = "workflows-http-step";

    /// <summary>Response bodies kept as outputs; larger ones are cut (outputs are small JSON values).</summary>
    public const int MaxBodyChars = 16 * 1024;

    public static readonly IReadOnlyList<string> Methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

    /// <summary>Headers the step may not set: they would change where or how the request goes.</summary>
    private static readonly string[] ReservedHeaders = ["host", "content-length", "transfer-encoding", "connection"];

    public override string Name => "http";

    public override string Description => "Calls an HTTP(S) URL on the configured allow-list (Workflows:Http:AllowedHosts).";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("url", ParameterType.String, Required: true, Description: "Absolute http or https URL; its host must be on Workflows:Http:AllowedHosts."),
        new("method", ParameterType.String, Default: JsonValue.Create("GET"), Description: "GET, POST, PUT, PATCH, DELETE or HEAD."),
        new("headers", ParameterType.Object, Description: "Request headers: name to string value."),
        new("body", ParameterType.Any, Description: "Request body: a string is sent as text, anything else as JSON."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("url", out var url))
        {
            CheckUrl(url!.GetValue<string>(), errors);
        }
        else if (StepTemplates.IsTemplated(parameters["url"]))
        {
            CheckTemplatedUrl(parameters["url"]!.GetValue<string>(), errors);
        }

        string? method = null;
        if (values.TryGetValue("method", out var methodNode))
        {
            method = methodNode!.GetValue<string>().ToUpperInvariant();
            if (!Methods.Contains(method))
            {
                errors.Add(new StepParameterError("method", $"Unknown method '{methodNode.GetValue<string>()}'; use one of {string.Join(", ", Methods)}."));
            }
        }

        if (values.ContainsKey("body") && !StepTemplates.IsTemplated(parameters["method"]) && (method ?? "GET") is "GET" or "HEAD")
        {
            errors.Add(new StepParameterError("body", $"A {method ?? "GET"} request has no body; set method to POST, PUT, PATCH or DELETE."));
        }

        if (values.TryGetValue("headers", out var headers))
        {
            foreach (var (name, value) in headers!.AsObject())
            {
                var path = "headers." + name;
                if (name.Length == 0 || name.Any(c => c <= ' ' || c >= 127 || "()<>@,;:\\\"/[]?={}".Contains(c, StringComparison.Ordinal)))
                {
                    errors.Add(new StepParameterError($"headers[\"{name}\"]", $"'{name}' is not a valid header name."));
                }
                else if (ReservedHeaders.Contains(name.ToLowerInvariant()))
                {
                    errors.Add(new StepParameterError(path, $"The header '{name}' is set by the platform."));
                }
                else if (value is not JsonValue v || v.GetValueKind() != System.Text.Json.JsonValueKind.String)
                {
                    errors.Add(new StepParameterError(path, "A header value must be a string."));
                }
                else if (v.GetValue<string>().Any(c => c is '\r' or '\n'))
                {
                    errors.Add(new StepParameterError(path, "A header value must be one line."));
                }
            }
        }
    }

    /// <summary>Also for templated URLs: checks the part before the first template when it already holds the whole host.</summary>
    private void CheckUrl(string url, List<StepParameterError> errors)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            errors.Add(new StepParameterError("url", $"'{url}' is not an absolute http or https URL."));
            return;
        }

        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            errors.Add(new StepParameterError("url", "The URL must not carry credentials; send them in a header."));
            return;
        }

        if (!options.Allows(uri))
        {
            errors.Add(new StepParameterError("url", options.AllowedHosts.Count == 0
                ? $"The host '{uri.Authority}' is not allowed: no hosts are allowed until {HttpStepOptions.Setting} lists them."
                : $"The host '{uri.Authority}' is not on the allow-list ({HttpStepOptions.Setting}: {string.Join(", ", options.AllowedHosts)})."));
        }
    }

    /// <summary>
    /// A templated URL is checked when its host is written out before the first template
    /// (<c>https://api.example.com/${params.path}</c>); otherwise only when the run resolves it.
    /// </summary>
    private void CheckTemplatedUrl(string url, List<StepParameterError> errors)
    {
        var template = url.IndexOf("${", StringComparison.Ordinal);
        var prefix = template < 0 ? url : url[..template];
        var schemeEnd = prefix.IndexOf("://", StringComparison.Ordinal);
        var authorityEnd = schemeEnd < 0 ? -1 : prefix.IndexOfAny(['/', '?', '#'], schemeEnd + 3);
        if (authorityEnd > 0)
        {
            CheckUrl(prefix[..authorityEnd] + "/", errors);
        }
    }

    /// <summary>
    /// Sends the request if the resolved URL's host is on the allow-list (otherwise no request is
    /// made and the step fails for good). Outputs: status, contentType, body (text, cut at
    /// <see cref="MaxBodyChars"/>) and json (the parsed body when it is JSON). A 5xx or 429 fails the
    /// attempt (retryable), another non-2xx fails it for good.
    /// </summary>
    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var url = context.Parameters["url"] is JsonValue u && u.TryGetValue<string>(out var text) ? text : null;
        var errors = new List<StepParameterError>();
        CheckUrl(url ?? string.Empty, errors);
        if (errors.Count > 0)
        {
            throw new StepFailedException("url: " + errors[0].Message, retryable: false);
        }

        var method = (context.Parameters["method"] is JsonValue m && m.TryGetValue<string>(out var name) ? name : "GET").ToUpperInvariant();
        if (!Methods.Contains(method))
        {
            throw new StepFailedException($"Unknown method '{method}'.", retryable: false);
        }

        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(url!, UriKind.Absolute));
        if (context.Parameters["body"] is { } body && method is not ("GET" or "HEAD"))
        {
            request.Content = body is JsonValue b && b.TryGetValue<string>(out var plain)
                ? new StringContent(plain, System.Text.Encoding.UTF8, "text/plain")
                : new StringContent(body.ToJsonString(), System.Text.Encoding.UTF8, "application/json");
        }

        if (context.Parameters["headers"] is JsonObject headers)
        {
            foreach (var (header, value) in headers)
            {
                var headerValue = value is JsonValue hv && hv.TryGetValue<string>(out var h) ? h : null;
                if (headerValue is null || ReservedHeaders.Contains(header.ToLowerInvariant()) || headerValue.Any(c => c is '\r' or '\n'))
                {
                    throw new StepFailedException($"headers.{header}: not a header the step may send.", retryable: false);
                }

                if (!request.Headers.TryAddWithoutValidation(header, headerValue))
                {
                    request.Content ??= new StringContent(string.Empty);
                    request.Content.Headers.Remove(header);
                    request.Content.Headers.TryAddWithoutValidation(header, headerValue);
                }
            }
        }

        var client = clients.CreateClient(ClientName);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException ex)
        {
            throw new StepFailedException($"{method} {request.RequestUri!.GetLeftPart(UriPartial.Path)} failed: {ex.Message}", retryable: true, ex);
        }

        using (response)
        {
            var content = await ReadCappedAsync(response, cancellationToken);
            var status = (int)response.StatusCode;
            context.Log.Info($"{method} {request.RequestUri!.GetLeftPart(UriPartial.Path)} → {status} in {clock.ElapsedMilliseconds} ms");
            if (!response.IsSuccessStatusCode)
            {
                throw new StepFailedException($"{method} {request.RequestUri.GetLeftPart(UriPartial.Path)} answered {status} {response.ReasonPhrase}: {Shorten(content.Text, 500)}",
                    retryable: status >= 500 || status == 429);
            }

            var contentType = response.Content.Headers.ContentType?.MediaType;
            JsonNode? json = null;
            if (contentType is not null && contentType.Contains("json", StringComparison.OrdinalIgnoreCase) && !content.Cut)
            {
                try
                {
                    json = JsonNode.Parse(content.Text);
                }
                catch (System.Text.Json.JsonException)
                {
                    context.Log.Warning("The response said JSON but does not parse as JSON.");
                }
            }

            return StepResult.Succeeded(new Dictionary<string, JsonNode?>
            {
                ["status"] = status,
                ["contentType"] = contentType,
                ["body"] = content.Text,
                ["truncated"] = content.Cut,
                ["json"] = json,
            });
        }
    }

    private static async Task<(string Text, bool Cut)> ReadCappedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        using var reader = new StreamReader(stream, System.Text.Encoding.UTF8);
        var buffer = new char[MaxBodyChars + 1];
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await reader.ReadAsync(buffer.AsMemory(read), cancellationToken);
            if (n == 0)
            {
                break;
            }

            read += n;
        }

        return read > MaxBodyChars ? (new string(buffer, 0, MaxBodyChars), true) : (new string(buffer, 0, read), false);
    }

    private static string Shorten(string text, int max) => text.Length <= max ? text : text[..max] + "…";
}
