using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.Metadata;

namespace MlPlatform.Gateway.Contracts;

/// <summary>Per-endpoint (or per-group) body size limit, read by the edge instead of <c>Gateway:MaxRequestBodyBytes</c>.</summary>
public sealed record RequestBodyLimit(long? MaxRequestBodySize) : IRequestSizeLimitMetadata;

public static class RequestBodyLimitExtensions
{
    /// <summary>
    /// Raises or lowers the body limit of an endpoint or a group (413 beyond it). The innermost
    /// call wins, so an endpoint can override its group.
    /// </summary>
    public static TBuilder WithRequestBodyLimit<TBuilder>(this TBuilder builder, long maxBytes)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        return builder.WithMetadata(new RequestBodyLimit(maxBytes));
    }
}
