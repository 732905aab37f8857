using System.Net.Http.Json;
using System.Text.Json;

namespace MlPlatform.Benchmarks;

/// <summary>
/// Waits for a run to end by reading the runs list (one small row), then reads the run's detail
/// once. The detail of a wide run (every step and attempt, serialized) costs the host hundreds of
/// milliseconds of CPU; polled while the run goes, it would compete with the engine being measured.
/// </summary>
public static class RunPolling
{
    /// <summary>
    /// Submits and runs a small workflow of the same shape before the measured one: a fresh process
    /// spends its first seconds compiling (JIT tiers) the very paths being measured, which a
    /// long-running host has long done.
    /// </summary>
    public static async Task WarmUpAsync(HttpClient client, string project, string workflow, object steps)
    {
        ArgumentNullException.ThrowIfNull(client);
        using (var submitted = await client.PostAsJsonAsync($"/api/v1/projects/{project}/workflows", new { name = workflow, steps }))
        {
            submitted.EnsureSuccessStatusCode();
        }

        using var started = await client.PostAsJsonAsync($"/api/v1/projects/{project}/workflows/{workflow}/runs", new { parameters = new { } });
        started.EnsureSuccessStatusCode();
        var runId = (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        await WaitForAsync(client, project, workflow, runId);
    }

    public static async Task<JsonElement> WaitForAsync(HttpClient client, string project, string workflow, Guid runId)
    {
        ArgumentNullException.ThrowIfNull(client);
        while (true)
        {
            await Task.Delay(250);
            var page = await client.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{project}/runs?workflow={workflow}&limit=200");
            var state = page.GetProperty("items").EnumerateArray()
                .Where(r => r.GetProperty("id").GetGuid() == runId)
                .Select(r => r.GetProperty("state").GetString()).SingleOrDefault();
            if (state is "succeeded" or "failed" or "cancelled")
            {
                var run = await client.GetFromJsonAsync<JsonElement>($"/api/v1/projects/{project}/runs/{runId}");
                return state == "succeeded" ? run : throw new InvalidOperationException($"The run ended {state}.");
            }
        }
    }
}
