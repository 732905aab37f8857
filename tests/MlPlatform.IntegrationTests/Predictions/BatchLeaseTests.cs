using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.Predictions.Batch;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Persistence;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.ModelRegistry.RegistryApi;
using static MlPlatform.IntegrationTests.Predictions.PredictionApi;

namespace MlPlatform.IntegrationTests.Predictions;

/// <summary>A host that sweeps for lost batch jobs every 300 ms, with 3-second leases and three starts at most.</summary>
public sealed class BatchLeaseFixture : PredictionHostsFixture
{
    public const int MaxAttempts = 3;

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
    [
        new("Predictions:Batch:SweepInterval", "00:00:00.300"),
        new("Predictions:Batch:LeaseDuration", "00:00:03"),
        new("Predictions:Batch:MaxAttempts", MaxAttempts.ToString(System.Globalization.CultureInfo.InvariantCulture)),
    ];
}

/// <summary>
/// Batch jobs whose host died: rows written as a dead host leaves them (running, lease expired,
/// stale progress) are taken up by the sweep and finished from scratch, or failed once their host
/// was lost too often; a job under a live lease is left alone.
/// </summary>
public sealed class BatchLeaseTests(BatchLeaseFixture hosts) : IClassFixture<BatchLeaseFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private const int Rows = 600;

    private static float[] RowOf(int i) => [i * 0.01f, 1 - (i * 0.02f), (i % 5) - 2];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_jobs_left_by_a_dead_host_Then_the_sweep_finishes_expired_ones_fails_the_too_often_lost_and_leaves_live_leases(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        var input = await PutCsv(api, Rows);
        var now = DateTimeOffset.UtcNow;

        // Lost once, mid-way: its progress is stale and its output half-written by nobody.
        var expired = await InsertJob(api, endpoint, input, "dead-host/1/aaaa#1", now.AddMinutes(-1), attempts: 1, rows: 256, bytesRead: 5_000);
        // Lost as often as allowed: not started again.
        var exhausted = await InsertJob(api, endpoint, input, "dead-host/1/aaaa#2", now.AddSeconds(-10), attempts: BatchLeaseFixture.MaxAttempts, rows: 512, bytesRead: 9_000);
        // Accepted by a host that died before starting it.
        var neverStarted = await InsertJob(api, endpoint, input, leaseOwner: null, leaseExpiresAt: null, attempts: 0, rows: 0, bytesRead: 0, state: BatchStates.Queued, createdAt: now.AddMinutes(-5));
        // Another host is alive and renewing: not ours to take.
        var live = await InsertJob(api, endpoint, input, "live-host/2/bbbb#1", now.AddMinutes(10), attempts: 1, rows: 256, bytesRead: 5_000);

        var resumed = await UntilFinished(api, endpoint, expired);
        resumed.GetProperty("state").GetString().ShouldBe("succeeded", resumed.ToString());
        resumed.GetProperty("attempts").GetInt32().ShouldBe(2);
        resumed.GetProperty("rows").GetInt64().ShouldBe(Rows);
        resumed.GetProperty("progress").GetDouble().ShouldBe(1.0);
        resumed.GetProperty("error").ValueKind.ShouldBe(JsonValueKind.Null);
        await OutputIsCorrect(api, resumed);

        var failed = await UntilFinished(api, endpoint, exhausted);
        failed.GetProperty("state").GetString().ShouldBe("failed", failed.ToString());
        failed.GetProperty("attempts").GetInt32().ShouldBe(BatchLeaseFixture.MaxAttempts);
        failed.GetProperty("error").GetString()!.ShouldContain($"lost {BatchLeaseFixture.MaxAttempts} times");
        (await api.Factory.Services.GetRequiredService<IObjectStore>().GetInfoAsync(failed.GetProperty("output").GetString()!)).ShouldBeNull();

        var started = await UntilFinished(api, endpoint, neverStarted);
        started.GetProperty("state").GetString().ShouldBe("succeeded", started.ToString());
        started.GetProperty("attempts").GetInt32().ShouldBe(1);
        await OutputIsCorrect(api, started);

        // The sweeps that finished the others saw this one too, and left it to its owner.
        var untouched = await Job(api, endpoint, live);
        untouched.GetProperty("state").GetString().ShouldBe("running");
        untouched.GetProperty("attempts").GetInt32().ShouldBe(1);
        untouched.GetProperty("rows").GetInt64().ShouldBe(256);
        await using var scope = api.Factory.Services.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<PredictionsDbContext>().BatchJobs.AsNoTracking().SingleAsync(j => j.Id == live);
        row.LeaseOwner.ShouldBe("live-host/2/bbbb#1");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_batch_job_started_through_the_API_Then_it_runs_under_this_hosts_lease_and_releases_it_when_done(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = await ModelWithVersions(api, 1);
        var endpoint = await Endpoint(api, name => new { name, variants = new object[] { new { model, version = 1 } } });
        var input = await PutCsv(api, Rows);

        var started = await Json(await api.Maintainer.PostAsJsonAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions", new { input }), HttpStatusCode.Accepted);
        var job = await UntilFinished(api, endpoint, started.GetProperty("id").GetGuid());

        job.GetProperty("state").GetString().ShouldBe("succeeded", job.ToString());
        job.GetProperty("attempts").GetInt32().ShouldBe(1);
        await OutputIsCorrect(api, job);
        await using var scope = api.Factory.Services.CreateAsyncScope();
        var row = await scope.ServiceProvider.GetRequiredService<PredictionsDbContext>().BatchJobs.AsNoTracking().SingleAsync(j => j.Id == job.GetProperty("id").GetGuid());
        row.LeaseOwner.ShouldBeNull();
        row.LeaseExpiresAt.ShouldBeNull();
    }

    private static async Task<Guid> InsertJob(
        WorkflowTestAccounts api, string endpoint, string input, string? leaseOwner, DateTimeOffset? leaseExpiresAt, int attempts, long rows, long bytesRead,
        string state = BatchStates.Running, DateTimeOffset? createdAt = null)
    {
        await using var scope = api.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
        var row = await db.Endpoints.AsNoTracking().SingleAsync(e => e.Name == endpoint);
        var id = Guid.CreateVersion7();
        db.BatchJobs.Add(new BatchJob
        {
            Id = id,
            ProjectId = row.ProjectId,
            EndpointId = row.Id,
            Endpoint = row.Name,
            InputKey = input,
            OutputKey = $"predictions/{row.Name}/{id:N}.csv",
            State = state,
            Rows = rows,
            BytesRead = bytesRead,
            InputBytes = 20_000,
            CreatedAt = createdAt ?? DateTimeOffset.UtcNow.AddMinutes(-2),
            Attempts = attempts,
            LeaseOwner = leaseOwner,
            LeaseExpiresAt = leaseExpiresAt,
        });
        await db.SaveChangesAsync();
        return id;
    }

    private static async Task<JsonElement> Job(WorkflowTestAccounts api, string endpoint, Guid id) =>
        await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/endpoints/{endpoint}/batch-predictions/{id}"), HttpStatusCode.OK);

    private static async Task<JsonElement> UntilFinished(WorkflowTestAccounts api, string endpoint, Guid id)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var job = await Job(api, endpoint, id);
            if (job.GetProperty("state").GetString() is "succeeded" or "failed")
            {
                return job;
            }

            clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(30), job.ToString());
            await Task.Delay(100);
        }
    }

    private static async Task<string> PutCsv(WorkflowTestAccounts api, int rows)
    {
        var csv = new StringBuilder("x0,x1,x2\n");
        for (var i = 0; i < rows; i++)
        {
            var r = RowOf(i);
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{r[0]:R},{r[1]:R},{r[2]:R}\n");
        }

        var key = $"projects/{api.Project}/inputs/{Guid.NewGuid():N}.csv";
        await api.Factory.Services.GetRequiredService<IObjectStore>().PutAsync(key, new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "text/csv");
        return key;
    }

    private static async Task OutputIsCorrect(WorkflowTestAccounts api, JsonElement job)
    {
        await using var stream = await api.Factory.Services.GetRequiredService<IObjectStore>().OpenReadAsync(job.GetProperty("output").GetString()!);
        using var reader = new StreamReader(stream);
        var lines = (await reader.ReadToEndAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Length.ShouldBe(Rows + 1);
        foreach (var i in new[] { 0, 255, 256, Rows - 1 })
        {
            float.Parse(lines[i + 1], System.Globalization.CultureInfo.InvariantCulture).ShouldBe(Expected(1, RowOf(i)), 1e-6f);
        }
    }
}
