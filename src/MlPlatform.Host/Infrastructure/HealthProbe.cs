namespace MlPlatform.Host.Infrastructure;

/// <summary>Exit code 0 when the readiness endpoint answers 2xx within five seconds, 1 otherwise.</summary>
internal static class HealthProbe
{
    public static async Task<int> RunAsync(string url)
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await client.GetAsync(new Uri(url));
            await Console.Out.WriteLineAsync($"{(int)response.StatusCode} {url}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or UriFormatException)
        {
            await Console.Error.WriteLineAsync($"unhealthy: {ex.Message}");
            return 1;
        }
    }
}
