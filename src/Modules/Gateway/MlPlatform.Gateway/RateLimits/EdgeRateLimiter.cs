using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace MlPlatform.Gateway.RateLimits;

/// <summary>What the RateLimit headers say: the quota, what is left of it, and seconds until it is full again.</summary>
internal sealed record RateLimitState(int Limit, long Remaining, TimeSpan Reset);

/// <summary>
/// The one limiter behind the edge: every request draws from its principal's or address's bucket,
/// and requests to <c>EdgePolicies.Auth</c> endpoints also from their address's auth bucket. Both
/// live here, not half in ASP.NET's policy table, so that acceptances and rejections alike can
/// report the bucket that is closest to running out.
/// </summary>
internal sealed class EdgeRateLimiter : PartitionedRateLimiter<HttpContext>
{
    public static readonly MetadataName<RateLimitState> StateMetadata = new("mlp.rate_limit");

    private readonly RateLimitSettings _settings;
    private readonly PartitionedRateLimiter<HttpContext> _clients;
    private readonly PartitionedRateLimiter<HttpContext> _auth;

    public EdgeRateLimiter(RateLimitSettings settings)
    {
        _settings = settings;
        _clients = PartitionedRateLimiter.Create<HttpContext, PartitionKey>(context => Partition(ClientPartition.Client(context)));
        _auth = PartitionedRateLimiter.Create<HttpContext, PartitionKey>(context => Partition(ClientPartition.Auth(context) ?? PartitionKey.Exempt));
    }

    private RateLimitPartition<PartitionKey> Partition(PartitionKey key) => key.Bucket == Bucket.Exempt
        ? RateLimitPartition.GetNoLimiter(key)
        : RateLimitPartition.GetTokenBucketLimiter(key, k => Options(Settings(k.Bucket)));

    private static TokenBucketRateLimiterOptions Options(TokenBucketSettings bucket) => new()
    {
        TokenLimit = bucket.PermitLimit,
        TokensPerPeriod = bucket.TokensPerPeriod,
        ReplenishmentPeriod = bucket.ReplenishmentPeriod,
        QueueLimit = bucket.QueueLimit,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
    };

    private TokenBucketSettings Settings(Bucket bucket) => bucket switch
    {
        Bucket.Authenticated => _settings.Authenticated,
        Bucket.Anonymous => _settings.Anonymous,
        Bucket.Auth => _settings.Auth,
        _ => throw new ArgumentOutOfRangeException(nameof(bucket), bucket, "exempt requests have no bucket"),
    };

    protected override RateLimitLease AttemptAcquireCore(HttpContext resource, int permitCount)
    {
        var client = _clients.AttemptAcquire(resource, permitCount);
        if (!client.IsAcquired)
        {
            return Reject(resource, client, ClientPartition.Client(resource));
        }

        if (ClientPartition.Auth(resource) is not { } auth)
        {
            return client;
        }

        var second = _auth.AttemptAcquire(resource, permitCount);
        if (second.IsAcquired)
        {
            return new PairLease(client, second);
        }

        client.Dispose();
        return Reject(resource, second, auth);
    }

    protected override async ValueTask<RateLimitLease> AcquireAsyncCore(HttpContext resource, int permitCount, CancellationToken cancellationToken)
    {
        // ASP.NET tries AttemptAcquire first and then waits here. Without a queue, waiting cannot
        // help: answer with the same rejection rather than spend the client's tokens a second time.
        if (resource.Features.Get<RejectedLease>() is { } rejected && Settings(rejected.Bucket).QueueLimit == 0)
        {
            return rejected;
        }

        var client = await _clients.AcquireAsync(resource, permitCount, cancellationToken);
        if (!client.IsAcquired)
        {
            return Reject(resource, client, ClientPartition.Client(resource));
        }

        if (ClientPartition.Auth(resource) is not { } auth)
        {
            return client;
        }

        var second = await _auth.AcquireAsync(resource, permitCount, cancellationToken);
        if (second.IsAcquired)
        {
            return new PairLease(client, second);
        }

        client.Dispose();
        return Reject(resource, second, auth);
    }

    private RejectedLease Reject(HttpContext context, RateLimitLease failed, PartitionKey key)
    {
        var bucket = Settings(key.Bucket);
        var retryAfter = failed.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : bucket.ReplenishmentPeriod;
        failed.Dispose();
        var rejected = new RejectedLease(key.Bucket, new RateLimitState(bucket.PermitLimit, 0, retryAfter));
        context.Features.Set(rejected);
        return rejected;
    }

    /// <summary>The state of the bucket closest to running out, for the headers of an accepted request; null when none applies.</summary>
    public RateLimitState? Describe(HttpContext context)
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<DisableRateLimitingAttribute>() is not null)
        {
            return null;
        }

        var client = ClientPartition.Client(context);
        if (client.Bucket == Bucket.Exempt)
        {
            return null;
        }

        var state = State(_clients, context, client.Bucket);
        if (ClientPartition.Auth(context) is { } auth && State(_auth, context, auth.Bucket) is { } strict
            && (state is null || strict.Remaining < state.Remaining))
        {
            state = strict;
        }

        return state;
    }

    private RateLimitState? State(PartitionedRateLimiter<HttpContext> limiter, HttpContext context, Bucket bucket)
    {
        if (limiter.GetStatistics(context) is not { } statistics)
        {
            return null;
        }

        var settings = Settings(bucket);
        var remaining = Math.Max(0, statistics.CurrentAvailablePermits);
        // A bucket refills TokensPerPeriod per period; we do not know how far into the current period we are, so round up.
        var periods = (settings.PermitLimit - remaining + settings.TokensPerPeriod - 1) / settings.TokensPerPeriod;
        return new RateLimitState(settings.PermitLimit, remaining, settings.ReplenishmentPeriod * periods);
    }

    public override RateLimiterStatistics? GetStatistics(HttpContext resource) => _clients.GetStatistics(resource);

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _clients.Dispose();
            _auth.Dispose();
        }

        base.Dispose(disposing);
    }

    protected override async ValueTask DisposeAsyncCore()
    {
        await _clients.DisposeAsync();
        await _auth.DisposeAsync();
    }

    /// <summary>A refusal that carries the bucket's quota and when to come back.</summary>
    private sealed class RejectedLease(Bucket bucket, RateLimitState state) : RateLimitLease
    {
        public Bucket Bucket { get; } = bucket;

        public override bool IsAcquired => false;

        public override IEnumerable<string> MetadataNames => [MetadataName.RetryAfter.Name, StateMetadata.Name];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = metadataName == MetadataName.RetryAfter.Name ? state.Reset
                : metadataName == StateMetadata.Name ? state
                : null;
            return metadata is not null;
        }
    }

    private sealed class PairLease(RateLimitLease first, RateLimitLease second) : RateLimitLease
    {
        public override bool IsAcquired => true;

        public override IEnumerable<string> MetadataNames => [];

        public override bool TryGetMetadata(string metadataName, out object? metadata)
        {
            metadata = null;
            return false;
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                first.Dispose();
                second.Dispose();
            }

            base.Dispose(disposing);
        }
    }
}
