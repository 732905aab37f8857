using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>Calls of the runs API shared by the run tests: submit, start, read and wait, as a client would.</summary>
public static class RunApi
{
    // Generous: it only costs time when a test fails, and a loaded CI machine can be several times slower.
    public static readonly TimeSpan RunTimeout = TimeSpan.FromSeconds(60);

    public static string NewName(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    public static async Task Submit(HttpClient client, string project, object definition)
    {
        var response = await client.PostAsync($"/api/v1/projects/{project}/workflows",
            new StringContent(JsonSerializer.Serialize(definition), Encoding.UTF8, "application/json"));
        response.StatusCode.ShouldBe(HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
    }

    public static async Task<Guid> Start(HttpClient client, string project, string workflow, object? parameters = null)
    {
        var response = await client.PostAsJsonAsync($"/api/v1/projects/{project}/workflows/{workflow}/runs", new { parameters = parameters ?? new { } });
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.Accepted, text);
        using var body = JsonDocument.Parse(text);
        return body.RootElement.GetProperty("id").GetGuid();
    }

    public static async Task<JsonElement> Get(HttpClient client, string project, Guid run)
    {
        var response = await client.GetAsync($"/api/v1/projects/{project}/runs/{run}");
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
        using var body = JsonDocument.Parse(text);
        return body.RootElement.Clone();
    }

    /// <summary>Polls until the run is in <paramref name="states"/> (a terminal state by default).</summary>
    public static Task<JsonElement> WaitFor(HttpClient client, string project, Guid run, params string[] states)
    {
        states = states.Length > 0 ? states : ["succeeded", "failed", "cancelled"];
        return WaitUntil(client, project, run, r => states.Contains(r.GetProperty("state").GetString()), $"state {string.Join("/", states)}");
    }

    public static async Task<JsonElement> WaitUntil(HttpClient client, string project, Guid run, Func<JsonElement, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var body = await Get(client, project, run);
            if (condition(body))
            {
                return body;
            }

            if (clock.Elapsed > RunTimeout)
            {
                throw new TimeoutException($"Run {run} did not reach {what}: {body}");
            }

            await Task.Delay(50);
        }
    }

    public static JsonElement Step(JsonElement run, string id) =>
        run.GetProperty("steps").EnumerateArray().Single(s => s.GetProperty("id").GetString() == id);

    public static string State(JsonElement run, string step) => Step(run, step).GetProperty("state").GetString()!;

    public static List<JsonElement> Attempts(JsonElement run, string step) => Step(run, step).GetProperty("attempts").EnumerateArray().ToList();

    /// <summary>Asserts the status and, for errors, a problem+json body; returns the body.</summary>
    public static async Task<JsonElement> Expect(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        response.StatusCode.ShouldBe(status, text);
        if ((int)status >= 400)
        {
            response.Content.Headers.ContentType?.MediaType.ShouldBe("application/problem+json");
        }

        if (text.Length == 0)
        {
            return default;
        }

        using var body = JsonDocument.Parse(text);
        return body.RootElement.Clone();
    }
}
