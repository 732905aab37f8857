using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Amazon.S3;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Storage;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace MlPlatform.IntegrationTests.Storage;

/// <summary>Retries, timeouts and the circuit breaker of the S3 store, against a scripted server.</summary>
public sealed class S3ResilienceTests
{
    private const int MiB = 1024 * 1024;

    [Fact]
    public async Task Given_server_that_keeps_answering_503_When_called_Then_tried_once_plus_max_retries_and_error_surfaces()
    {
        await using var server = await FakeS3Server.StartAsync((ctx, _) => FakeS3Server.ErrorAsync(ctx, 503, "SlowDown"));
        using var store = new S3ObjectStore(server.Settings() with { MaxRetries = 2 });

        var ex = await Should.ThrowAsync<AmazonS3Exception>(() => store.ExistsAsync("a/b"));

        ex.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        server.Requests.ShouldBe(3);
    }

    [Fact]
    public async Task Given_server_failing_twice_then_answering_When_called_Then_retries_succeed()
    {
        await using var server = await FakeS3Server.StartAsync((ctx, n) =>
            n <= 2 ? FakeS3Server.ErrorAsync(ctx, 500, "InternalError") : FakeS3Server.ObjectHeadAsync(ctx, 42));
        using var store = new S3ObjectStore(server.Settings() with { MaxRetries = 3 });

        var info = await store.GetInfoAsync("a/b");

        info.ShouldNotBeNull().Size.ShouldBe(42);
        server.Requests.ShouldBe(3);
    }

    [Theory]
    [InlineData(403, "AccessDenied")]
    [InlineData(400, "InvalidArgument")]
    public async Task Given_client_error_When_called_Then_not_retried(int status, string code)
    {
        await using var server = await FakeS3Server.StartAsync((ctx, _) => FakeS3Server.ErrorAsync(ctx, status, code));
        using var store = new S3ObjectStore(server.Settings() with { MaxRetries = 3 });

        var ex = await Should.ThrowAsync<AmazonS3Exception>(() => store.ExistsAsync("a/b"));

        ((int)ex.StatusCode).ShouldBe(status);
        server.Requests.ShouldBe(1);
    }

    [Fact]
    public async Task Given_missing_object_When_asked_Then_not_found_is_an_answer_and_not_retried()
    {
        await using var server = await FakeS3Server.StartAsync((ctx, _) => FakeS3Server.ErrorAsync(ctx, 404, "NoSuchKey"));
        using var store = new S3ObjectStore(server.Settings() with { MaxRetries = 3 });

        (await store.ExistsAsync("a/b")).ShouldBeFalse();
        await Should.ThrowAsync<ObjectNotFoundException>(() => store.OpenReadAsync("a/b"));

        server.Requests.ShouldBe(2);
    }

    [Fact]
    public async Task Given_server_slower_than_the_timeout_When_called_Then_each_attempt_times_out_and_retries_stop()
    {
        await using var server = await FakeS3Server.StartAsync(async (ctx, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            await FakeS3Server.ObjectHeadAsync(ctx, 1);
        });
        var logger = new CollectingLogger<S3ObjectStore>();
        using var store = new S3ObjectStore(server.Settings() with { Timeout = TimeSpan.FromMilliseconds(500), MaxRetries = 1 }, logger);
        var watch = Stopwatch.StartNew();

        await Should.ThrowAsync<TimeoutRejectedException>(() => store.ExistsAsync("a/b"));

        // Below the server's 10 s, with room for a cold SDK on a loaded machine.
        watch.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(8));
        // Counted on the client: on a loaded machine an attempt can time out before the server sees it.
        logger.Messages.Count(m => m.Contains("retry", StringComparison.Ordinal)).ShouldBe(1);
        server.Requests.ShouldBeInRange(1, 2);
    }

    [Fact]
    public async Task Given_caller_cancels_When_server_is_slow_Then_cancelled_without_retry()
    {
        await using var server = await FakeS3Server.StartAsync(async (ctx, _) =>
        {
            await Task.Delay(TimeSpan.FromSeconds(10), ctx.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
            await FakeS3Server.ObjectHeadAsync(ctx, 1);
        });
        var logger = new CollectingLogger<S3ObjectStore>();
        using var store = new S3ObjectStore(server.Settings() with { MaxRetries = 3 }, logger);
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Should.ThrowAsync<OperationCanceledException>(() => store.ExistsAsync("a/b", cancellation.Token));

        logger.Messages.ShouldNotContain(m => m.Contains("retry", StringComparison.Ordinal));
        server.Requests.ShouldBeLessThanOrEqualTo(1);
    }

    [Fact]
    public async Task Given_server_failing_every_call_When_called_repeatedly_Then_circuit_opens_and_calls_fail_fast()
    {
        await using var server = await FakeS3Server.StartAsync((ctx, _) => FakeS3Server.ErrorAsync(ctx, 503, "ServiceUnavailable"));
        using var store = new S3ObjectStore(server.Settings() with { MaxRetries = 0 });

        for (var i = 0; i < 10; i++)
        {
            await Should.ThrowAsync<AmazonS3Exception>(() => store.ExistsAsync("a/b"));
        }

        await Should.ThrowAsync<BrokenCircuitException>(() => store.ExistsAsync("a/b"));
        server.Requests.ShouldBe(10);
    }

    [Fact]
    public async Task Given_part_upload_failing_once_When_put_Then_part_is_resent_with_the_same_bytes()
    {
        var parts = new ConcurrentDictionary<int, List<byte[]>>();
        var failedOnce = 0;
        await using var server = await FakeS3Server.StartAsync(async (ctx, _) =>
        {
            var query = ctx.Request.Query;
            if (HttpMethods.IsPost(ctx.Request.Method) && query.ContainsKey("uploads"))
            {
                await WriteXmlAsync(ctx, "<InitiateMultipartUploadResult><Bucket>fake-bucket</Bucket><Key>k</Key><UploadId>up-1</UploadId></InitiateMultipartUploadResult>");
            }
            else if (HttpMethods.IsPut(ctx.Request.Method) && query.TryGetValue("partNumber", out var number))
            {
                var part = int.Parse(number!, System.Globalization.CultureInfo.InvariantCulture);
                using var body = new MemoryStream();
                await ctx.Request.Body.CopyToAsync(body);
                parts.GetOrAdd(part, _ => []).Add(body.ToArray());
                if (part == 2 && Interlocked.Exchange(ref failedOnce, 1) == 0)
                {
                    await FakeS3Server.ErrorAsync(ctx, 500, "InternalError");
                    return;
                }

                ctx.Response.Headers.ETag = $"\"etag-{part}\"";
            }
            else if (HttpMethods.IsPost(ctx.Request.Method) && query.ContainsKey("uploadId"))
            {
                await WriteXmlAsync(ctx, "<CompleteMultipartUploadResult><Bucket>fake-bucket</Bucket><Key>k</Key><ETag>\"done-3\"</ETag></CompleteMultipartUploadResult>");
            }
            else
            {
                await FakeS3Server.ErrorAsync(ctx, 400, "Unexpected");
            }
        });
        using var store = new S3ObjectStore(server.Settings());
        var data = TestData.Random((11 * MiB) + 7);

        var stored = await store.PutAsync("models/big.bin", new NonSeekableStream(data));

        stored.Size.ShouldBe(data.Length);
        parts.Keys.Order().ShouldBe([1, 2, 3]);
        parts[2].Count.ShouldBe(2);
        parts[2][1].ShouldBe(parts[2][0]);
        parts.OrderBy(p => p.Key).SelectMany(p => p.Value[^1]).ToArray().ShouldBe(data);
    }

    [Fact]
    public async Task Given_part_refused_When_put_Then_multipart_upload_is_aborted()
    {
        var aborted = 0;
        await using var server = await FakeS3Server.StartAsync(async (ctx, _) =>
        {
            var query = ctx.Request.Query;
            if (HttpMethods.IsPost(ctx.Request.Method) && query.ContainsKey("uploads"))
            {
                await WriteXmlAsync(ctx, "<InitiateMultipartUploadResult><Bucket>fake-bucket</Bucket><Key>k</Key><UploadId>up-9</UploadId></InitiateMultipartUploadResult>");
            }
            else if (HttpMethods.IsDelete(ctx.Request.Method) && query["uploadId"] == "up-9")
            {
                Interlocked.Increment(ref aborted);
                ctx.Response.StatusCode = 204;
            }
            else
            {
                await ctx.Request.Body.CopyToAsync(Stream.Null);
                await FakeS3Server.ErrorAsync(ctx, 403, "AccessDenied");
            }
        });
        using var store = new S3ObjectStore(server.Settings());

        await Should.ThrowAsync<AmazonS3Exception>(() => store.PutAsync("models/big.bin", new NonSeekableStream(TestData.Random(6 * MiB))));

        aborted.ShouldBe(1);
    }

    [Fact]
    public void Given_failures_When_classified_Then_only_server_side_and_network_ones_are_transient()
    {
        S3ObjectStore.IsTransient(new AmazonS3Exception("x", Amazon.Runtime.ErrorType.Receiver, "InternalError", "r", HttpStatusCode.InternalServerError)).ShouldBeTrue();
        S3ObjectStore.IsTransient(new AmazonS3Exception("x", Amazon.Runtime.ErrorType.Sender, "SlowDown", "r", HttpStatusCode.ServiceUnavailable)).ShouldBeTrue();
        S3ObjectStore.IsTransient(new AmazonS3Exception("x", Amazon.Runtime.ErrorType.Sender, "RequestTimeout", "r", HttpStatusCode.BadRequest)).ShouldBeTrue();
        S3ObjectStore.IsTransient(new AmazonS3Exception("x", Amazon.Runtime.ErrorType.Sender, "NoSuchKey", "r", HttpStatusCode.NotFound)).ShouldBeFalse();
        S3ObjectStore.IsTransient(new AmazonS3Exception("x", Amazon.Runtime.ErrorType.Sender, "AccessDenied", "r", HttpStatusCode.Forbidden)).ShouldBeFalse();
        S3ObjectStore.IsTransient(new HttpRequestException("refused")).ShouldBeTrue();
        S3ObjectStore.IsTransient(new IOException("reset")).ShouldBeTrue();
        S3ObjectStore.IsTransient(new TimeoutRejectedException()).ShouldBeTrue();
        S3ObjectStore.IsTransient(new InvalidObjectKeyException("..", "bad")).ShouldBeFalse();
    }

    private sealed class CollectingLogger<T> : ILogger<T>
    {
        public ConcurrentQueue<string> Messages { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Messages.Enqueue(formatter(state, exception));
    }

    private static Task WriteXmlAsync(HttpContext context, string xml)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/xml";
        var rootEnd = xml.IndexOf('>', StringComparison.Ordinal);
        return context.Response.WriteAsync("<?xml version=\"1.0\" encoding=\"UTF-8\"?>" + xml[..rootEnd] + " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"" + xml[rootEnd..]);
    }
}
