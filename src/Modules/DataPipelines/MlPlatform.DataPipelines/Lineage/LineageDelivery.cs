using System.Net.Http.Headers;
using System.Text;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MlPlatform.DataPipelines.Persistence;

namespace MlPlatform.DataPipelines.Lineage;

/// <summary>
/// Posts stored OpenLineage events to the configured endpoint (<c>DataPipelines:OpenLineage:Url</c>),
/// oldest first, at least once; a failed post is retried with a growing delay. Without an endpoint
/// the events are only kept (and readable through the API).
/// </summary>
internal sealed partial class LineageDelivery(
    IServiceScopeFactory scopes,
    IHttpClientFactory clients,
    DataPipelinesSettings settings,
    TimeProvider clock,
    ILogger<LineageDelivery> logger) : BackgroundService
{
    public const string ClientName = "openlineage";
    private const int Batch = 50;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.OpenLineageUrl is null)
        {
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                while (await DeliverBatchAsync(stoppingToken) == Batch)
                {
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }

            try
            {
                await Task.Delay(settings.DeliveryInterval, clock, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<int> DeliverBatchAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
        var now = clock.GetUtcNow();
        var due = await db.LineageEvents.Where(e => e.DeliveredAt == null && e.NextAttemptAt <= now)
            .OrderBy(e => e.EventTime).ThenBy(e => e.EventType == "START" ? 0 : 1).Take(Batch).ToListAsync(cancellationToken);
        if (due.Count == 0)
        {
            return 0;
        }

        var client = clients.CreateClient(ClientName);
        foreach (var item in due)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, settings.OpenLineageUrl)
                {
                    Content = new StringContent(item.Payload, Encoding.UTF8, "application/json"),
                };
                if (settings.OpenLineageApiKey is { Length: > 0 } key)
                {
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
                }

                using var response = await client.SendAsync(request, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    item.DeliveredAt = clock.GetUtcNow();
                    item.LastError = null;
                    continue;
                }

                Retry(item, $"HTTP {(int)response.StatusCode}");
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                Retry(item, ex.Message);
            }
        }

        await db.SaveChangesAsync(cancellationToken);
        return due.Count;
    }

    private void Retry(Domain.LineageEvent item, string error)
    {
        item.Attempts++;
        item.LastError = error.Length > 2000 ? error[..2000] : error;
        // 2 s, 4 s, 8 s ... capped at 10 minutes: a receiver that is down is not hammered.
        item.NextAttemptAt = clock.GetUtcNow() + TimeSpan.FromSeconds(Math.Min(600, Math.Pow(2, Math.Min(item.Attempts, 10))));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "OpenLineage delivery failed; will retry")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
