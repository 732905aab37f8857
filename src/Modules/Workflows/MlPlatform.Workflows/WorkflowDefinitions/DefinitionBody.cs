using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Http;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.Workflows.Definitions;

namespace MlPlatform.Workflows.WorkflowDefinitions;

/// <summary>Reads a definition body: the content type says JSON or YAML; the text must be UTF-8.</summary>
public static class DefinitionBody
{
    public static readonly string[] JsonTypes = ["application/json"];

    public static readonly string[] YamlTypes = ["application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"];

    public static async Task<(string Content, DefinitionFormat Format)> ReadAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var format = FormatOf(request.ContentType);
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        try
        {
            using var reader = new StreamReader(request.Body, strict, detectEncodingFromByteOrderMarks: false);
            var text = await reader.ReadToEndAsync(cancellationToken);
            return (text.TrimStart('\uFEFF'), format);
        }
        catch (DecoderFallbackException)
        {
            throw new BadRequestException("The request body is not valid UTF-8.");
        }
    }

    public static DefinitionFormat FormatOf(string? contentType)
    {
        if (MediaTypeHeaderValue.TryParse(contentType, out var media) && media.MediaType is { } type)
        {
            var charsetOk = media.CharSet is null || media.CharSet.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase);
            if (charsetOk && JsonTypes.Contains(type, StringComparer.OrdinalIgnoreCase))
            {
                return DefinitionFormat.Json;
            }

            if (charsetOk && YamlTypes.Contains(type, StringComparer.OrdinalIgnoreCase))
            {
                return DefinitionFormat.Yaml;
            }
        }

        throw new UnsupportedMediaTypeException(
            $"Send the definition as {string.Join(" or ", JsonTypes.Concat(YamlTypes))} (UTF-8); got '{contentType ?? "no content type"}'.");
    }
}
