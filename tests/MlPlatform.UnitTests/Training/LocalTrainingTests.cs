using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using MlPlatform.DataPipelines.Training;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.DataPipelines.Training.Evaluation;
using MlPlatform.DataPipelines.Training.Local;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.UnitTests.Training;

public sealed class LocalTrainingTests
{
    public static TheoryData<string, string> TasksAndTrainers()
    {
        var data = new TheoryData<string, string>();
        foreach (var task in new[] { "binary", "multiclass", "regression" })
        {
            foreach (var trainer in TrainerCatalog.Names)
            {
                data.Add(task, trainer);
            }
        }

        return data;
    }

    private static LocalTrainingBackend.Trained Train(string task, string trainer, JsonObject? hyperparameters = null, int seed = 5, string? csv = null)
    {
        var (label, features) = SampleData.For(task);
        var data = TabularData.ParseCsv("sample.csv", csv ?? SampleData.Csv());
        return LocalTrainingBackend.Train(data, label, TrainStep.ParseTask(task)!.Value, trainer, features, hyperparameters ?? [], seed, "sample.csv", CancellationToken.None);
    }

    [Theory]
    [MemberData(nameof(TasksAndTrainers))]
    public void Given_task_and_trainer_When_trained_Then_the_ONNX_export_scores_like_ML_NET_and_the_model_learned(string task, string trainer)
    {
        var trained = Train(task, trainer);
        var (label, _) = SampleData.For(task);
        var table = TabularData.ParseCsv("sample.csv", SampleData.Csv());

        var onnx = OnnxScorer.Score(trained.Onnx, table, label, TrainStep.ParseTask(task)!.Value);
        var mlnet = trained.Model.Transform(trained.Data);

        switch (task)
        {
            case "binary":
                var probabilities = mlnet.GetColumn<float>("Probability").ToArray();
                onnx.Probability!.Length.ShouldBe(probabilities.Length);
                for (var i = 0; i < probabilities.Length; i++)
                {
                    onnx.Probability[i].ShouldBe(probabilities[i], 1e-4f, $"row {i}");
                }

                trained.Metrics["accuracy"].ShouldBeGreaterThan(0.8);
                trained.Metrics["auc"].ShouldBeGreaterThan(0.85);
                break;
            case "multiclass":
                var labels = mlnet.GetColumn<ReadOnlyMemory<char>>("PredictedLabel").Select(l => l.ToString()).ToArray();
                onnx.PredictedLabel!.ShouldBe(labels);
                trained.Metrics["accuracy"].ShouldBeGreaterThan(0.7);
                break;
            default:
                var scores = mlnet.GetColumn<float>("Score").ToArray();
                for (var i = 0; i < scores.Length; i++)
                {
                    onnx.Score![i].ShouldBe(scores[i], 1e-3f, $"row {i}");
                }

                trained.Metrics["r2"].ShouldBeGreaterThan(0.8);
                break;
        }
    }

    [Theory]
    [InlineData("binary")]
    [InlineData("multiclass")]
    [InlineData("regression")]
    public void Given_a_label_column_with_its_own_name_When_exported_Then_the_model_takes_it_as_the_Label_input_serving_feeds(string task)
    {
        var trained = Train(task, TrainerCatalog.FastTree);
        var (label, features) = SampleData.For(task);

        using var session = new Microsoft.ML.OnnxRuntime.InferenceSession(trained.Onnx);

        session.InputMetadata.Keys.ShouldContain(LocalTrainingBackend.LabelInput);
        session.InputMetadata.Keys.ShouldNotContain(label);
        session.InputMetadata.Keys.Except([LocalTrainingBackend.LabelInput]).ShouldBe(features, ignoreOrder: true);
    }

    [Fact]
    public void Given_the_same_seed_When_trained_twice_Then_the_models_are_identical()
    {
        var first = Train("binary", TrainerCatalog.LightGbm);
        var second = Train("binary", TrainerCatalog.LightGbm);
        second.Metrics.ShouldBe(first.Metrics);
        second.Onnx.ShouldBe(first.Onnx);
    }

    [Fact]
    public void Given_hyperparameters_When_trained_Then_they_reach_the_trainer()
    {
        var few = Train("regression", TrainerCatalog.FastTree, new JsonObject { ["numberOfTrees"] = 1, ["numberOfLeaves"] = 2 });
        var many = Train("regression", TrainerCatalog.FastTree, new JsonObject { ["numberOfTrees"] = 200, ["numberOfLeaves"] = 16 });
        few.Metrics["rmse"].ShouldBeGreaterThan(many.Metrics["rmse"] * 2);
    }

    [Fact]
    public void Given_data_without_the_label_column_When_trained_Then_a_non_retryable_failure_names_the_column()
    {
        var data = TabularData.ParseCsv("sample.csv", SampleData.Csv());
        var ex = Should.Throw<StepFailedException>(() => LocalTrainingBackend.Train(data, "missing", TrainingTask.Binary, "sdca", null, [], 1, "sample.csv", CancellationToken.None));
        ex.Retryable.ShouldBeFalse();
        ex.Message.ShouldContain("'missing'");
    }

    [Theory]
    [InlineData("a,b\n1,2\n3\n", "line 3")]
    [InlineData("a,b\n", "no rows")]
    [InlineData("a,a\n1,2\n", "twice")]
    [InlineData("a,b\n\"1,2\n", "not closed")]
    public void Given_malformed_CSV_When_read_Then_the_error_names_the_problem(string csv, string expected)
    {
        Should.Throw<StepFailedException>(() => TabularData.ParseCsv("bad.csv", csv)).Message.ShouldContain(expected);
    }

    [Fact]
    public void Given_unknown_or_out_of_range_hyperparameters_When_validated_Then_each_is_an_error()
    {
        var step = new TrainStep([new LocalTrainingBackend(new TrainingSettings())], null!);
        var errors = step.Validate(new JsonObject
        {
            ["data"] = "d.csv",
            ["label"] = "y",
            ["task"] = "binary",
            ["trainer"] = "fasttree",
            ["hyperparameters"] = new JsonObject { ["numberOfTrees"] = 0, ["depth"] = 3 },
        });
        errors.Select(e => e.Path).ShouldBe(["hyperparameters.numberOfTrees", "hyperparameters.depth"], ignoreOrder: true);

        step.Validate(new JsonObject { ["data"] = "d.csv", ["label"] = "y", ["task"] = "ranking", ["trainer"] = "xgboost", ["backend"] = "cloud" })
            .Select(e => e.Path).ShouldBe(["task", "backend"], ignoreOrder: true);
        step.Validate(new JsonObject { ["data"] = "d.csv", ["label"] = "y", ["task"] = "binary", ["trainer"] = "xgboost" })
            .Single().Path.ShouldBe("trainer");
        step.Validate(new JsonObject { ["data"] = "d.csv", ["label"] = "y", ["task"] = "binary", ["trainer"] = "fasttree", ["hyperparameters"] = new JsonObject { ["learningRate"] = "${params.lr}" } })
            .ShouldBeEmpty();
    }

    [Fact]
    public void Given_known_labels_and_scores_When_metrics_are_computed_Then_they_match_the_definitions()
    {
        bool[] actual = [true, true, false, false];
        float[] probability = [0.9f, 0.4f, 0.6f, 0.1f];
        var m = EvaluationMetrics.Binary(actual, probability);
        m["accuracy"].ShouldBe(0.5);
        m["precision"].ShouldBe(0.5);
        m["recall"].ShouldBe(0.5);
        m["f1"].ShouldBe(0.5);
        m["auc"].ShouldBe(0.75);
        m["logLoss"].ShouldBe(-(Math.Log(0.9) + Math.Log(0.4) + Math.Log(0.4) + Math.Log(0.9)) / 4, 1e-6);

        var r = EvaluationMetrics.Regression([1, 2, 3], [1, 2, 5]);
        r["rmse"].ShouldBe(Math.Sqrt(4 / 3.0), 1e-9);
        r["mae"].ShouldBe(2 / 3.0, 1e-9);
        r["r2"].ShouldBe(1 - 4 / 2.0, 1e-9);
    }
}
