using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MlPlatform.SharedKernel.Storage;

/// <summary>Ready when the artifact store answers.</summary>
public sealed class ObjectStoreHealthCheck(IObjectStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await store.CheckAvailableAsync(cancellationToken);
            return HealthCheckResult.Healthy(store.Backend);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"{store.Backend} artifact store does not answer", ex);
        }
    }
}
