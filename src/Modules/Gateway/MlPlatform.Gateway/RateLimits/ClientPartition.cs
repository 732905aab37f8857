using System.Net;
using System.Net.Sockets;
using System.Security.Claims;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;
using MlPlatform.Gateway.Contracts;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.Gateway.RateLimits;

/// <summary>Which bucket a request draws from.</summary>
internal enum Bucket
{
    Exempt,
    Authenticated,
    Anonymous,
    Auth,
}

internal readonly record struct PartitionKey(Bucket Bucket, string Client)
{
    public static readonly PartitionKey Exempt = new(Bucket.Exempt, string.Empty);
}

/// <summary>Decides, once per request, whose budget the request spends.</summary>
internal static class ClientPartition
{
    private sealed class Decision(PartitionKey client, PartitionKey? auth)
    {
        public PartitionKey Client { get; } = client;

        public PartitionKey? Auth { get; } = auth;
    }

    /// <summary>The per-principal (authenticated) or per-address (anonymous) partition; <see cref="PartitionKey.Exempt"/> for probes and scrapes.</summary>
    public static PartitionKey Client(HttpContext context) => Decide(context).Client;

    /// <summary>The per-address partition of the stricter <see cref="EdgePolicies.Auth"/> policy, when the endpoint asks for it.</summary>
    public static PartitionKey? Auth(HttpContext context) => Decide(context).Auth;

    public static bool IsExempt(HttpContext context) =>
        context.Request.Path.StartsWithSegments("/health") || context.Request.Path.StartsWithSegments("/metrics");

    // Cached on the request: the limiter asks several times (acquire, statistics, headers) and the answer must not change.
    private static Decision Decide(HttpContext context)
    {
        if (context.Features.Get<Decision>() is { } cached)
        {
            return cached;
        }

        Decision decision;
        if (IsExempt(context))
        {
            decision = new Decision(PartitionKey.Exempt, null);
        }
        else
        {
            var client = Subject(context.User) is { } subject
                ? new PartitionKey(Bucket.Authenticated, subject)
                : new PartitionKey(Bucket.Anonymous, Address(context));
            var policy = context.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName;
            decision = new Decision(client, policy == EdgePolicies.Auth ? new PartitionKey(Bucket.Auth, Address(context)) : null);
        }

        context.Features.Set(decision);
        return decision;
    }

    private static string? Subject(ClaimsPrincipal user)
    {
        if (user.Identity?.IsAuthenticated != true)
        {
            return null;
        }

        // "sub" unless a handler mapped it to the long name (JwtBearer does when MapInboundClaims is on).
        var subject = user.FindFirst(PlatformClaims.Subject)?.Value ?? user.FindFirst(ClaimTypes.NameIdentifier)?.Value;
        return string.IsNullOrEmpty(subject) ? null : subject;
    }

    /// <summary>
    /// The connection's address (the forwarded one when a trusted proxy sent it). IPv6 clients
    /// usually own a whole /64, so they share one budget per /64 rather than one per address.
    /// </summary>
    internal static string Address(HttpContext context)
    {
        var address = context.Connection.RemoteIpAddress;
        if (address is null)
        {
            return "unknown";
        }

        if (address.IsIPv4MappedToIPv6)
        {
            return address.MapToIPv4().ToString();
        }

        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            var bytes = address.GetAddressBytes();
            Array.Clear(bytes, 8, 8);
            return new IPAddress(bytes) + "/64";
        }

        return address.ToString();
    }
}
