using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.IntegrationTests.ModelRegistry;
using MlPlatform.Tests.Onnx;
using MlPlatform.IntegrationTests.Storage;
using MlPlatform.SharedKernel.Persistence;
using MlPlatform.SharedKernel.Storage;
using static MlPlatform.IntegrationTests.Training.TrainingApi;

namespace MlPlatform.IntegrationTests.Training;

/// <summary>A host on an S3 artifact store (s3rver) whose SageMaker backend talks to <see cref="SageMakerStandIn"/>.</summary>
public sealed class SageMakerHostFixture : IAsyncLifetime
{
    private IObjectStore? _store;

    public string Bucket { get; } = S3TestBuckets.NewName();

    public SageMakerStandIn StandIn { get; private set; } = null!;

    public WorkflowTestAccounts Api { get; private set; } = null!;

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
        var factory = await PlatformFactory.CreateAsync(DatabaseProvider.Sqlite, new Dictionary<string, string?>
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
        Api = await WorkflowTestAccounts.CreateAsync(factory);
        _store = factory.Services.GetRequiredService<IObjectStore>();
    }

    public async Task DisposeAsync()
    {
        if (Api is not null)
        {
            Api.Dispose();
            await Api.Factory.DisposeAsync();
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
        var data = await PutAsync(api, $"datasets/{name}/train.csv", EvaluationCsv());
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
                new { id = "local", type = "model.train", @params = new { data = $"datasets/{name}/local.csv", label = "churn", task = "binary", trainer = "fasttree", features = new[] { "x1", "x2", "colour" } } },
                new { id = "evaluate", type = "model.evaluate", dependsOn = new[] { "train" }, @params = new { modelKey = "${steps.train.outputs.modelKey}", data, label = "label", task = "binary" } },
                new { id = "register", type = "noop", dependsOn = new[] { "evaluate" }, when = "${steps.evaluate.outputs.accuracy} >= 0.99" },
            },
        });
        await PutAsync(api, $"datasets/{name}/local.csv", Csv(rows: 120));

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
        var data = await PutAsync(api, $"datasets/{name}/train.csv", EvaluationCsv());
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
        var data = await PutAsync(api, $"datasets/{name}/train.csv", EvaluationCsv());
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
        var data = await PutAsync(api, $"datasets/{name}/train.csv", EvaluationCsv());
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
    public async Task Given_SageMaker_step_polling_When_the_run_is_cancelled_Then_the_job_is_stopped()
    {
        var api = host.Api;
        var name = NewName("smcancel");
        var data = await PutAsync(api, $"datasets/{name}/train.csv", EvaluationCsv());
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
