using System.Formats.Tar;
using System.IO.Compression;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Configuration;
using MlPlatform.DataPipelines.Training;
using MlPlatform.DataPipelines.Training.SageMaker;
using MlPlatform.SharedKernel.Configuration;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.UnitTests.Training;

public sealed class SageMakerBackendTests
{
    private static TrainingJob Job(string stepId, int attempt = 1) => new()
    {
        RunId = Guid.Parse("0195f0aa-1111-7222-8333-444455556666"),
        ProjectId = Guid.NewGuid(),
        StepId = stepId,
        Attempt = attempt,
        DataKey = "d.csv",
        Label = "y",
        Task = TrainingTask.Binary,
        Trainer = "xgboost",
        Hyperparameters = [],
        Seed = 1,
        Store = new LocalObjectStore(Path.GetTempPath()),
        Log = new NullLog(),
        Clock = TimeProvider.System,
    };

    private sealed class NullLog : IStepLogger
    {
        public void Write(StepLogLevel level, string message)
        {
        }
    }

    [Theory]
    [InlineData("train", 1, "mlp-train-0195f0aa1111-1")]
    [InlineData("train_model.v2", 3, "mlp-train-model-v2-0195f0aa1111-3")]
    public void Given_a_step_When_naming_its_job_Then_the_name_fits_SageMakers_pattern_and_is_unique_per_attempt(string step, int attempt, string expected)
    {
        SageMakerTrainingBackend.JobName(Job(step, attempt)).ShouldBe(expected);
    }

    [Fact]
    public void Given_a_long_step_id_When_naming_its_job_Then_at_most_63_characters()
    {
        var name = SageMakerTrainingBackend.JobName(Job(new string('s', 120), 12));
        name.Length.ShouldBeLessThanOrEqualTo(63);
        name.ShouldMatch("^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$");
        name.ShouldEndWith("-0195f0aa1111-12");
    }

    [Fact]
    public void Given_SageMakers_model_tarball_When_extracting_Then_the_onnx_file_comes_out_and_other_bytes_are_not_mistaken_for_one()
    {
        byte[] onnx = [8, 1, 2, 3, 4];
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true))
        using (var tar = new TarWriter(gzip))
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "code/inference.py") { DataStream = new MemoryStream([1, 2]) });
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "model/model.onnx") { DataStream = new MemoryStream(onnx) });
        }

        SageMakerTrainingBackend.ExtractOnnx(buffer.ToArray()).ShouldBe(onnx);
        SageMakerTrainingBackend.ExtractOnnx(onnx).ShouldBeNull();
        SageMakerTrainingBackend.ExtractOnnx([0x1f, 0x8b, 0, 0]).ShouldBeNull();
    }

    [Fact]
    public void Given_training_settings_When_read_Then_defaults_apply_and_half_credentials_are_refused()
    {
        var defaults = TrainingSettings.Read(new ConfigurationBuilder().Build());
        defaults.SageMaker.ServiceUrl.ShouldBe(new Uri("https://api.sagemaker.us-east-1.amazonaws.com/"));
        defaults.SageMaker.PollInterval.ShouldBe(TimeSpan.FromSeconds(30));

        var regional = TrainingSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Training:SageMaker:Region"] = "eu-central-1" }).Build());
        regional.SageMaker.ServiceUrl.Host.ShouldBe("api.sagemaker.eu-central-1.amazonaws.com");
        regional.SageMaker.ToString().ShouldNotContain("Key");

        Should.Throw<InvalidConfigurationException>(() => TrainingSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Training:SageMaker:AccessKey"] = "AK" }).Build()));
        Should.Throw<InvalidConfigurationException>(() => TrainingSettings.Read(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { ["Training:SageMaker:ServiceUrl"] = "ftp://x" }).Build()));
    }

    [Fact]
    public void Given_evaluate_params_When_validated_Then_exactly_one_model_reference_is_required()
    {
        var step = new EvaluateStep(null!, new TrainingSettings());
        JsonObject Params(params (string Key, JsonNode? Value)[] extra)
        {
            var p = new JsonObject { ["data"] = "d.csv", ["label"] = "y", ["task"] = "binary" };
            foreach (var (key, value) in extra)
            {
                p[key] = value;
            }

            return p;
        }

        step.Validate(Params(("modelKey", "m.onnx"))).ShouldBeEmpty();
        step.Validate(Params(("model", "churn"), ("version", 3))).ShouldBeEmpty();
        step.Validate(Params(("model", "churn"), ("version", "champion"))).ShouldBeEmpty();
        step.Validate(Params()).Single().Path.ShouldBe("model");
        step.Validate(Params(("modelKey", "m.onnx"), ("model", "churn"), ("version", 1))).Single().Path.ShouldBe("modelKey");
        step.Validate(Params(("model", "churn"))).Single().Path.ShouldBe("version");
        step.Validate(Params(("model", "churn"), ("version", 0))).Single().Path.ShouldBe("version");
    }

    [Fact]
    public void Given_sagemaker_options_When_validated_Then_literal_ones_are_checked_and_templated_ones_wait_for_the_run()
    {
        var settings = new TrainingSettings();
        var step = new TrainStep([new MlPlatform.DataPipelines.Training.Local.LocalTrainingBackend(settings), new SageMakerTrainingBackend(null!, settings, null!, null!)], null!);
        JsonObject Params(JsonNode? options, string backend = "sagemaker")
        {
            var p = new JsonObject { ["data"] = "d.csv", ["label"] = "y", ["task"] = "binary", ["backend"] = backend, ["hyperparameters"] = new JsonObject { ["eta"] = 0.1, ["objective"] = "binary:logistic" } };
            if (options is not null)
            {
                p["sagemaker"] = options;
            }

            return p;
        }

        step.Validate(Params(new JsonObject { ["roleArn"] = "arn:aws:iam::123456789012:role/Train", ["image"] = "img:1", ["maxWait"] = "2h", ["inputUri"] = "s3://b/data.csv" })).ShouldBeEmpty();
        step.Validate(Params("${params.sagemaker}")).ShouldBeEmpty();
        step.Validate(Params(null)).Single().Path.ShouldBe("sagemaker");
        step.Validate(Params(new JsonObject { ["roleArn"] = "arn:aws:iam::1:role/x", ["image"] = "i", ["inputUri"] = "http://b/x", ["instanceCount"] = 0 }))
            .Select(e => e.Path).ShouldBe(["sagemaker.roleArn", "sagemaker.inputUri", "sagemaker.instanceCount"], ignoreOrder: true);
        step.Validate(Params(new JsonObject { ["roleArn"] = "arn:aws:iam::123456789012:role/Train", ["image"] = "i" }, backend: "local"))
            .Select(e => e.Path).ShouldBe(["sagemaker", "hyperparameters.eta", "hyperparameters.objective"], ignoreOrder: true);
    }
}
