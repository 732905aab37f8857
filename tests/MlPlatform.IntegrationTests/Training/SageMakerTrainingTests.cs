using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.EntityFrameworkCore;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.DataPipelines.Training.RemoteJobs;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.SharedKernel.Messaging;
using MlPlatform.Workflows.Contracts.Runs;
using MlPlatform.IntegrationTests.ModelRegistry;
using MlPlatform.Tests.Onnx;
using MlPlatform.IntegrationTests.Storage;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.Training.TrainingApi;

namespace MlPlatform.IntegrationTests.Training;

/// <summary>
/// Hosts on an S3 artifact store (s3rver, one bucket) whose SageMaker backend talks to
/// <see cref="SageMakerStandIn"/>: a SQLite host from the start (<see cref="Api"/>), a PostgreSQL one
/// when a test asks for it.
/// </summary>
public sealed class SageMakerHostFixture : IAsyncLifetime
{
    private readonly Dictionary<DatabaseProvider, Task<WorkflowTestAccounts>> _hosts = [];
    private readonly Lock _lock = new();
    private IObjectStore? _store;

    public string Bucket { get; } = S3TestBuckets.NewName();

    public SageMakerStandIn StandIn { get; private set; } = null!;

    public WorkflowTestAccounts Api { get; private set; } = null!;

    public Task<WorkflowTestAccounts> For(DatabaseProvider provider)
    {
        lock (_lock)
        {
            if (!_hosts.TryGetValue(provider, out var host))
            {
                host = CreateHostAsync(provider);
                _hosts[provider] = host;
            }

            return host;
        }
    }

    public async Task InitializeAsync()
    {
        // SageMaker writes model.tar.gz to S3 itself; the stand-in does it through the host's store (same bucket).
        StandIn = await SageMakerStandIn.StartAsync(async (uri, bytes) =>
        {
            var key = uri[$"s3://{Bucket}/".Length..];
            await using var content = new MemoryStream(bytes);
            await _store!.PutAsync(key, content);
            return uri;
        });
        Api = await For(DatabaseProvider.Sqlite);
        _store = Api.Factory.Services.GetRequiredService<IObjectStore>();
    }

    private async Task<WorkflowTestAccounts> CreateHostAsync(DatabaseProvider provider)
    {
        var factory = await PlatformFactory.CreateAsync(provider, new Dictionary<string, string?>
        {
            ["Storage:Provider"] = "S3",
            ["Storage:S3:ServiceUrl"] = TestEnvironment.S3Endpoint,
            ["Storage:S3:Bucket"] = Bucket,
            ["Storage:S3:AccessKey"] = TestEnvironment.S3AccessKey,
            ["Storage:S3:SecretKey"] = TestEnvironment.S3SecretKey,
            ["Storage:S3:ForcePathStyle"] = "true",
            ["Storage:S3:CreateBucket"] = "true",
            ["Training:SageMaker:ServiceUrl"] = StandIn.Url.ToString(),
            ["Training:SageMaker:Region"] = SageMakerStandIn.Region,
            ["Training:SageMaker:AccessKey"] = SageMakerStandIn.AccessKey,
            ["Training:SageMaker:SecretKey"] = SageMakerStandIn.SecretKey,
        });
        return await WorkflowTestAccounts.CreateAsync(factory);
    }

    public async Task DisposeAsync()
    {
        foreach (var host in _hosts.Values)
        {
            if (host.IsCompletedSuccessfully)
            {
                host.Result.Dispose();
                await host.Result.Factory.DisposeAsync();
            }
        }

        await StandIn.DisposeAsync();
        await S3TestBuckets.DeleteAsync(Bucket);
    }
}

public sealed class SageMakerTrainingTests(SageMakerHostFixture host) : IClassFixture<SageMakerHostFixture>
{
    private const string Role = "arn:aws:iam::123456789012:role/SageMakerTraining";

    private static readonly byte[] Model = RegistryApi.Model(0.25f);

    private static byte[] Tarball(byte[] onnx)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, "model.onnx") { DataStream = new MemoryStream(onnx) };
            tar.WriteEntry(entry);
        }

        return buffer.ToArray();
    }

    private static string EvaluationCsv()
    {
        var random = new Random(9);
        var csv = new StringBuilder("a,b,c,label\n");
        for (var i = 0; i < 60; i++)
        {
            float[] x = [(float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 2 - 1];
            csv.Append(CultureInfo.InvariantCulture, $"{x[0]:R},{x[1]:R},{x[2]:R},{(OnnxModelWriter.Expected(RegistryApi.Weights, 0.25f, x) >= 0.5f ? 1 : 0)}\n");
        }

        return csv.ToString();
    }

    private static object SageMakerOptions(string image, string? maxWait = null) => maxWait is null
        ? new { roleArn = Role, image, instanceType = "ml.m5.xlarge", volumeSizeGb = 5, maxRuntime = "30m", pollInterval = "200ms" }
        : new { roleArn = Role, image, instanceType = "ml.m5.xlarge", volumeSizeGb = 5, maxRuntime = "30m", pollInterval = "200ms", maxWait };

    [Fact]
    public async Task Given_SageMaker_backend_When_the_job_goes_InProgress_then_Completed_Then_signed_well_formed_calls_and_the_ONNX_model_from_S3_is_the_steps_model()
    {
        var api = host.Api;
        host.StandIn.ModelTarball = Tarball(Model);
        var name = NewName("sm");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new
                {
                    id = "train", type = "model.train",
                    @params = new { data, label = "label", task = "binary", trainer = "xgboost", backend = "sagemaker", hyperparameters = new { eta = 0.1, max_depth = 4 }, sagemaker = SageMakerOptions("123456789012.dkr.ecr.eu-west-1.amazonaws.com/xgboost:latest") },
                },
                new { id = "local", type = "model.train", @params = new { data = $"projects/{api.Project}/{name}/local.csv", label = "churn", task = "binary", trainer = "fasttree", features = new[] { "x1", "x2", "colour" } } },
                new { id = "evaluate", type = "model.evaluate", dependsOn = new[] { "train" }, @params = new { modelKey = "${steps.train.outputs.modelKey}", data, label = "label", task = "binary" } },
                new { id = "register", type = "noop", dependsOn = new[] { "evaluate" }, when = "${steps.evaluate.outputs.accuracy} >= 0.99" },
            },
        });
        await PutAsync(api, $"projects/{api.Project}/{name}/local.csv", Csv(rows: 120));

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        host.StandIn.Problems.ShouldBeEmpty();
        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var outputs = Outputs(run, "train");
        outputs.GetProperty("modelKey").GetString().ShouldBe($"runs/{id}/train/model.onnx");
        outputs.GetProperty("modelUri").GetString().ShouldBe($"s3://{host.Bucket}/runs/{id}/train/model.onnx");
        outputs.GetProperty("validation_accuracy").GetDouble().ShouldBe(0.91);
        outputs.GetProperty("metrics").GetProperty("train_logloss").GetDouble().ShouldBe(0.25);
        outputs.GetProperty("backend").GetString().ShouldBe("sagemaker");
        var jobName = outputs.GetProperty("trainingJobName").GetString()!;
        (await ReadAsync(api, $"runs/{id}/train/model.onnx")).ShouldBe(Model);

        var calls = host.StandIn.Calls.Where(c => c.Body["TrainingJobName"]!.GetValue<string>() == jobName).ToList();
        calls[0].Operation.ShouldBe("CreateTrainingJob");
        calls.Count(c => c.Operation == "DescribeTrainingJob").ShouldBe(2);
        var create = calls[0].Body;
        create["InputDataConfig"]![0]!["DataSource"]!["S3DataSource"]!["S3Uri"]!.GetValue<string>().ShouldBe($"s3://{host.Bucket}/{data}");
        create["OutputDataConfig"]!["S3OutputPath"]!.GetValue<string>().ShouldBe($"s3://{host.Bucket}/runs/{id}/train/sagemaker/");
        create["HyperParameters"]!["eta"]!.GetValue<string>().ShouldBe("0.1");
        create["HyperParameters"]!["max_depth"]!.GetValue<string>().ShouldBe("4");
        create["StoppingCondition"]!["MaxRuntimeInSeconds"]!.GetValue<int>().ShouldBe(1800);
        create["ResourceConfig"]!["InstanceType"]!.GetValue<string>().ShouldBe("ml.m5.xlarge");

        // The model SageMaker produced scores through ONNX Runtime; labels came from that model, so it is perfect.
        Outputs(run, "evaluate").GetProperty("accuracy").GetDouble().ShouldBe(1.0);
        State(run, "register").ShouldBe("succeeded");

        // Local training on the same host writes its model into the bucket too.
        Outputs(run, "local").GetProperty("modelUri").GetString().ShouldBe($"s3://{host.Bucket}/runs/{id}/local/model.onnx");
        (await Store(api).ExistsAsync($"runs/{id}/local/model.onnx")).ShouldBeTrue();
    }

    [Fact]
    public async Task Given_SageMaker_job_that_fails_When_run_Then_the_step_fails_once_with_the_FailureReason()
    {
        var api = host.Api;
        var name = NewName("smfail");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "train", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "xgboost", sagemaker = SageMakerOptions("example.com/fail:1") }, retries = new { max = 2, backoff = "100ms" } },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        host.StandIn.Problems.ShouldBeEmpty();
        run.GetProperty("state").GetString().ShouldBe("failed");
        var attempt = Attempts(run, "train").Single();
        attempt.GetProperty("error").GetString()!.ShouldContain("failed: AlgorithmError: ClientError: label column 'churn' has 3 distinct values");
    }

    [Fact]
    public async Task Given_SageMaker_job_that_outlives_maxWait_When_run_Then_the_job_is_stopped_and_the_step_fails()
    {
        var api = host.Api;
        var name = NewName("smslow");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "train", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = SageMakerOptions("example.com/slow:1", maxWait: "1s") } } },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed");
        Attempts(run, "train").Single().GetProperty("error").GetString()!.ShouldContain("did not finish within maxWait");
        var job = host.StandIn.Jobs.Values.Single(j => j.Request["Tags"]!.AsArray().Any(t => t!["Value"]!.GetValue<string>() == id.ToString()));
        job.StopRequested.ShouldBeTrue();
        host.StandIn.Calls.ShouldContain(c => c.Operation == "StopTrainingJob" && c.Body["TrainingJobName"]!.GetValue<string>() == job.Request["TrainingJobName"]!.GetValue<string>());
        host.StandIn.Problems.ShouldBeEmpty();
    }

    [Fact]
    public async Task Given_SageMaker_options_that_are_missing_or_malformed_When_submitted_Then_422_names_each()
    {
        var api = host.Api;
        var response = await SubmitRaw(api.Maintainer, api.Project, new
        {
            name = NewName("smbad"),
            steps = new object[]
            {
                new { id = "a", type = "model.train", @params = new { data = "d.csv", label = "y", task = "binary", backend = "sagemaker" } },
                new { id = "b", type = "model.train", @params = new { data = "d.csv", label = "y", task = "binary", backend = "sagemaker", sagemaker = new { roleArn = "admin", image = "x", colour = "red", maxRuntime = "soon" } } },
            },
        });

        response.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
        var text = await response.Content.ReadAsStringAsync();
        foreach (var path in new[] { "steps[0].params.sagemaker", "steps[1].params.sagemaker.roleArn", "steps[1].params.sagemaker.colour", "steps[1].params.sagemaker.maxRuntime" })
        {
            text.ShouldContain($"\"{path}\"");
        }
    }

    [Fact]
    public async Task Given_SageMaker_step_with_a_timeout_When_a_poll_outlasts_it_Then_the_job_is_stopped()
    {
        var api = host.Api;
        var name = NewName("smtimeout");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "train", type = "model.train", timeout = "1s", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = SageMakerOptions("example.com/hang:1") } } },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed");
        Attempts(run, "train").Single().GetProperty("error").GetString()!.ShouldContain("Timed out");
        JobOf(id).StopRequested.ShouldBeTrue();
    }

    [Fact]
    public async Task Given_SageMaker_URIs_into_the_platforms_bucket_outside_the_project_Then_the_step_fails_before_any_job()
    {
        var api = host.Api;
        var name = NewName("smforeign");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        var theirs = Store(api).UriOf($"projects/{api.OtherProject}/{name}/train.csv").ToString();
        var elsewhere = Store(api).UriOf($"models/{Guid.NewGuid():N}/out").ToString();
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "read", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = new { roleArn = Role, image = "example.com/x:1", inputUri = theirs } } },
                new { id = "write", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = new { roleArn = Role, image = "example.com/x:1", outputPath = elsewhere } } },
            },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed");
        Attempts(run, "read").Single().GetProperty("error").GetString()!.ShouldContain("sagemaker.inputUri");
        Attempts(run, "write").Single().GetProperty("error").GetString()!.ShouldContain("sagemaker.outputPath");
        host.StandIn.Jobs.Values.ShouldNotContain(j => Tagged(j, id));
    }

    [Fact]
    public async Task Given_SageMaker_step_polling_When_the_run_is_cancelled_Then_the_job_is_stopped()
    {
        var api = host.Api;
        var name = NewName("smcancel");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "train", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = SageMakerOptions("example.com/hang:2") } } },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (host.StandIn.Hanging == 0 || !host.StandIn.Jobs.Values.Any(j => Tagged(j, id)))
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout);
            await Task.Delay(20);
        }

        (await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null)).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("cancelled");

        // The run is cancelled at once; the attempt notices within its cancel poll and stops the job.
        while (!JobOf(id).StopRequested)
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout, "StopTrainingJob was not called");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Given_a_job_started_by_an_attempt_whose_host_died_When_the_next_attempt_runs_Then_it_follows_that_job_from_the_marker_and_its_state()
    {
        var api = host.Api;
        host.StandIn.ModelTarball = Tarball(Model);
        var backend = api.Factory.Services.GetServices<MlPlatform.DataPipelines.Training.ITrainingBackend>().Single(b => b.Name == "sagemaker");
        var runId = Guid.NewGuid();
        var data = await PutAsync(api, $"datasets/{runId}/train.csv", EvaluationCsv());
        MlPlatform.DataPipelines.Training.TrainingJob Attempt(int number, System.Text.Json.Nodes.JsonNode? state) => new()
        {
            RunId = runId,
            ProjectId = Guid.NewGuid(),
            StepId = "train",
            Attempt = number,
            DataKey = data,
            Label = "label",
            Task = MlPlatform.DataPipelines.Training.TrainingTask.Binary,
            Trainer = "custom",
            Hyperparameters = [],
            Seed = 1,
            Options = System.Text.Json.Nodes.JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(SageMakerOptions("example.com/train:1")))!.AsObject(),
            Store = Store(api),
            Log = new NullLog(),
            Clock = TimeProvider.System,
            State = state,
        };

        // Attempt 1 created the job, then its host died before the step could suspend.
        var first = await backend.TrainAsync(Attempt(1, null), CancellationToken.None);
        var jobName = ((MlPlatform.DataPipelines.Training.TrainingProgress.Pending)first).State["jobName"]!.GetValue<string>();

        var second = (MlPlatform.DataPipelines.Training.TrainingProgress.Pending)await backend.TrainAsync(Attempt(2, null), CancellationToken.None);
        second.State["jobName"]!.GetValue<string>().ShouldBe(jobName);
        host.StandIn.Calls.Count(c => c.Operation == "CreateTrainingJob" && c.Body["TrainingJobName"]!.GetValue<string>().Contains(runId.ToString("N")[..12], StringComparison.Ordinal)).ShouldBe(1);

        // The adopting attempt looked once (InProgress); from here only the state carries the job.
        var done = (MlPlatform.DataPipelines.Training.TrainingProgress.Completed)await backend.TrainAsync(Attempt(2, second.State), CancellationToken.None);
        done.ModelKey.ShouldBe($"runs/{runId}/train/model.onnx");
        (await ReadAsync(api, done.ModelKey)).ShouldBe(Model);
        host.StandIn.Problems.ShouldBeEmpty();
    }

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_SageMaker_step_suspended_between_polls_When_the_run_is_cancelled_Then_a_signed_StopTrainingJob_stops_its_job_once(DatabaseProvider provider)
    {
        var api = await host.For(provider);
        var name = NewName("smsuspcancel");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "train", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = SuspendingOptions("example.com/slow:3") } } },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var jobName = await WaitUntilSuspended(api, id);
        var cancelledAt = DateTimeOffset.UtcNow;

        (await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/runs/{id}/cancel", null)).StatusCode.ShouldBe(HttpStatusCode.Accepted);
        (await WaitFor(api.Maintainer, api.Project, id)).GetProperty("state").GetString().ShouldBe("cancelled");
        await WaitForStop(jobName);

        // The step was never called again: the stop came from the RunCancelled subscriber, signed like every call.
        host.StandIn.Problems.ShouldBeEmpty();
        host.StandIn.Calls.Where(c => Named(c.Body, jobName)).Select(c => c.Operation).ShouldBe(["CreateTrainingJob", "StopTrainingJob"]);
        var record = await RemoteJob(api, jobName);
        record.RunId.ShouldBe(id);
        record.StepId.ShouldBe("train");
        record.Outcome.ShouldBe("stop-requested");
        record.FinishedAt.ShouldNotBeNull();

        // Redelivered (at least once) or repeated, the event stops nothing twice.
        var eventId = await InboxEventOf<StopRemoteJobsOnRunCancelled>(api, cancelledAt);
        await using (var scope = api.Factory.Services.CreateAsyncScope())
        {
            var handler = scope.ServiceProvider.GetServices<IIntegrationEventHandler<RunCancelled>>().OfType<StopRemoteJobsOnRunCancelled>().Single();
            await handler.Handle(new RunCancelled(eventId, DateTimeOffset.UtcNow, Guid.Empty, id, name, 1), CancellationToken.None);
        }

        await using (var scope = api.Factory.Services.CreateAsyncScope())
        {
            var handler = scope.ServiceProvider.GetServices<IIntegrationEventHandler<RunCancelled>>().OfType<StopRemoteJobsOnRunCancelled>().Single();
            await handler.Handle(new RunCancelled(Guid.NewGuid(), DateTimeOffset.UtcNow, Guid.Empty, id, name, 1), CancellationToken.None);
        }

        host.StandIn.Calls.Count(c => c.Operation == "StopTrainingJob" && Named(c.Body, jobName)).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_SageMaker_step_suspended_between_polls_When_the_run_times_out_Then_RunFailed_stops_its_job(DatabaseProvider provider)
    {
        var api = await host.For(provider);
        var name = NewName("smsusptimeout");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            timeout = "8s",
            steps = new object[] { new { id = "train", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = SuspendingOptions("example.com/slow:4") } } },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var jobName = await WaitUntilSuspended(api, id);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        await WaitForStop(jobName);
        host.StandIn.Problems.ShouldBeEmpty();
        host.StandIn.Calls.Where(c => Named(c.Body, jobName)).Select(c => c.Operation).ShouldBe(["CreateTrainingJob", "StopTrainingJob"]);
        (await RemoteJob(api, jobName)).Outcome.ShouldBe("stop-requested");
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_completed_SageMaker_job_When_a_later_step_fails_the_run_Then_RunFailed_stops_nothing(DatabaseProvider provider)
    {
        var api = await host.For(provider);
        host.StandIn.ModelTarball = Tarball(Model);
        var name = NewName("smdonefail");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", EvaluationCsv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "train", type = "model.train", @params = new { data, label = "label", task = "binary", backend = "sagemaker", trainer = "custom", sagemaker = SageMakerOptions("example.com/train:5") } },
                new { id = "boom", type = "model.train", dependsOn = new[] { "train" }, @params = new { data = $"projects/{api.Project}/{name}/missing.csv", label = "label", task = "binary" } },
            },
        });
        var handled = await InboxCount<StopRemoteJobsOnRunFailed>(api);

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        State(run, "train").ShouldBe("succeeded");
        var jobName = Outputs(run, "train").GetProperty("trainingJobName").GetString()!;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (await InboxCount<StopRemoteJobsOnRunFailed>(api) == handled)
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout, "RunFailed was not handled");
            await Task.Delay(50);
        }

        host.StandIn.Calls.ShouldNotContain(c => c.Operation == "StopTrainingJob" && Named(c.Body, jobName));
        (await RemoteJob(api, jobName)).Outcome.ShouldBe("completed");
        host.StandIn.Problems.ShouldBeEmpty();
    }

    /// <summary>Polls every ten minutes: after CreateTrainingJob the step suspends and is not called again within a test.</summary>
    private static object SuspendingOptions(string image) =>
        new { roleArn = Role, image, instanceType = "ml.m5.xlarge", volumeSizeGb = 5, maxRuntime = "30m", pollInterval = "10m" };

    /// <summary>Until the job exists and the step's attempt waits (queued for its next poll, minutes ahead); returns the job's name.</summary>
    private async Task<string> WaitUntilSuspended(WorkflowTestAccounts api, Guid run)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout, "the step did not suspend");
            var attempts = Attempts(await Get(api.Maintainer, api.Project, run), "train");
            if (host.StandIn.Jobs.Values.SingleOrDefault(j => Tagged(j, run)) is { } job
                && attempts.Count == 1 && attempts[0].GetProperty("state").GetString() == "queued"
                && attempts[0].GetProperty("scheduledFor").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddMinutes(1))
            {
                return job.Request["TrainingJobName"]!.GetValue<string>();
            }

            await Task.Delay(50);
        }
    }

    private async Task WaitForStop(string jobName)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!host.StandIn.Calls.Any(c => c.Operation == "StopTrainingJob" && Named(c.Body, jobName)))
        {
            clock.Elapsed.ShouldBeLessThan(RunTimeout, "StopTrainingJob was not called");
            await Task.Delay(50);
        }
    }

    private static bool Named(System.Text.Json.Nodes.JsonObject body, string jobName) => body["TrainingJobName"]?.GetValue<string>() == jobName;

    /// <summary>The job's row once it is marked over: the subscriber commits its mark after StopTrainingJob answered.</summary>
    private static async Task<RemoteTrainingJob> RemoteJob(WorkflowTestAccounts api, string jobName)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            await using (var scope = api.Factory.Services.CreateAsyncScope())
            {
                var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
                var record = await db.RemoteTrainingJobs.AsNoTracking().SingleAsync(j => j.JobName == jobName);
                if (record.FinishedAt is not null)
                {
                    return record;
                }
            }

            clock.Elapsed.ShouldBeLessThan(RunTimeout, $"the job {jobName} was not marked over");
            await Task.Delay(50);
        }
    }

    private static async Task<int> InboxCount<THandler>(WorkflowTestAccounts api)
    {
        await using var scope = api.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
        return await db.InboxMessages.CountAsync(m => m.Handler == typeof(THandler).FullName);
    }

    private static async Task<Guid> InboxEventOf<THandler>(WorkflowTestAccounts api, DateTimeOffset since)
    {
        await using var scope = api.Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<DataPipelinesDbContext>();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            // The subscriber's inbox mark commits with its change, after the stop was sent.
            var marks = await db.InboxMessages.AsNoTracking().Where(m => m.Handler == typeof(THandler).FullName).ToListAsync();
            if (marks.Where(m => m.ProcessedAt >= since).ToList() is [var mark])
            {
                return mark.EventId;
            }

            clock.Elapsed.ShouldBeLessThan(RunTimeout, "no inbox mark");
            await Task.Delay(50);
        }
    }

    private sealed class NullLog : MlPlatform.Workflows.Contracts.StepTypes.IStepLogger
    {
        public void Write(MlPlatform.Workflows.Contracts.StepTypes.StepLogLevel level, string message)
        {
        }
    }

    private static bool Tagged(SageMakerStandIn.Job job, Guid run) =>
        job.Request["Tags"]!.AsArray().Any(t => t!["Value"]!.GetValue<string>() == run.ToString());

    private SageMakerStandIn.Job JobOf(Guid run) => host.StandIn.Jobs.Values.Single(j => Tagged(j, run));
}
