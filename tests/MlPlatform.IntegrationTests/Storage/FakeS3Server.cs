using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Storage;

namespace MlPlatform.IntegrationTests.Storage;

/// <summary>
/// A scripted HTTP server on a free loopback port, to make the store meet failures s3rver never
/// produces (5xx, throttling, slowness) and count how often it is called.
/// </summary>
internal sealed class FakeS3Server : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _requests;

    private FakeS3Server(WebApplication app) => _app = app;

    public int Requests => Volatile.Read(ref _requests);

    public Uri Url { get; private set; } = null!;

    /// <summary>Starts the server; <paramref name="handler"/> gets each request and its 1-based number.</summary>
    public static async Task<FakeS3Server> StartAsync(Func<HttpContext, int, Task> handler)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var server = new FakeS3Server(app);
        app.Run(ctx => handler(ctx, Interlocked.Increment(ref server._requests)));
        await app.StartAsync();
        server.Url = new Uri(app.Urls.First());
        return server;
    }

    public S3StoreSettings Settings() => new()
    {
        ServiceUrl = Url,
        Bucket = "fake-bucket",
        AccessKey = "fake",
        SecretKey = "fake",
        ForcePathStyle = true,
        Timeout = TimeSpan.FromSeconds(5),
        MaxRetries = 2,
        PartSizeBytes = S3StoreSettings.MinPartSizeBytes,
        RetryBaseDelay = TimeSpan.FromMilliseconds(10),
    };

    public static Task ErrorAsync(HttpContext context, int status, string code)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/xml";
        // HEAD answers carry no body; the SDK then goes by the status code alone.
        return HttpMethods.IsHead(context.Request.Method)
            ? Task.CompletedTask
            : context.Response.WriteAsync($"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>scripted</Message><RequestId>1</RequestId></Error>");
    }

    public static Task ObjectHeadAsync(HttpContext context, long size)
    {
        context.Response.StatusCode = 200;
        context.Response.ContentLength = size;
        context.Response.Headers.LastModified = DateTimeOffset.UtcNow.ToString("R");
        context.Response.Headers.ETag = "\"abc\"";
        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
