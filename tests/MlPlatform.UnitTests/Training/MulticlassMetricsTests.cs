using MlPlatform.DataPipelines.Training;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.DataPipelines.Training.Evaluation;
using MlPlatform.DataPipelines.Training.Local;

namespace MlPlatform.UnitTests.Training;

/// <summary>Multiclass ROC AUC (macro, one-vs-rest) and log loss against values worked out by hand.</summary>
public sealed class MulticlassMetricsTests
{
    // Columns a, b, c. Row 2 (true c) is predicted b.
    private static readonly string[] Actual = ["a", "b", "c", "a"];
    private static readonly string[] Predicted = ["a", "b", "b", "a"];
    private static readonly float[][] Scores =
    [
        [0.7f, 0.2f, 0.1f],
        [0.3f, 0.4f, 0.3f],
        [0.2f, 0.5f, 0.3f],
        [0.5f, 0.1f, 0.4f],
    ];

    // By hand: log loss = −(ln 0.7 + ln 0.4 + ln 0.3 + ln 0.5) / 4 = 3.1700857 / 4.
    // AUC a: positives 0.7, 0.5 above negatives 0.3, 0.2 → 1. b: 0.4 beats 0.2 and 0.1, loses to 0.5 → 2/3.
    // c: 0.3 beats 0.1, ties 0.3 (½), loses to 0.4 → 1.5/3 = 0.5. Macro = (1 + 2/3 + 1/2) / 3 = 13/18.
    private const double ExpectedLogLoss = 0.79252142;
    private const double ExpectedAuc = 13 / 18.0;

    [Fact]
    public void Given_scores_and_labels_When_multiclass_probabilistic_metrics_are_computed_Then_they_equal_the_hand_computed_values()
    {
        var metrics = EvaluationMetrics.Multiclass(Actual, Predicted);
        EvaluationMetrics.AddProbabilistic(metrics, Actual, Scores, ["a", "b", "c"]);

        metrics["logLoss"].ShouldBe(ExpectedLogLoss, 1e-6);
        metrics["auc"].ShouldBe(ExpectedAuc, 1e-9);
        metrics["accuracy"].ShouldBe(0.75);
    }

    [Fact]
    public void Given_the_columns_in_another_order_When_the_order_is_read_from_the_predictions_Then_the_metrics_do_not_change()
    {
        // The same model with its columns as c, a, b; class c is never predicted and takes the column left.
        var permuted = Scores.Select(r => new[] { r[2], r[0], r[1] }).ToArray();

        var classes = EvaluationMetrics.ClassOrder(Predicted, permuted, Actual);

        classes.ShouldBe(["c", "a", "b"]);
        var metrics = EvaluationMetrics.Multiclass(Actual, Predicted);
        EvaluationMetrics.AddProbabilistic(metrics, Actual, permuted, classes!);
        metrics["logLoss"].ShouldBe(ExpectedLogLoss, 1e-6);
        metrics["auc"].ShouldBe(ExpectedAuc, 1e-9);
    }

    [Fact]
    public void Given_labels_that_are_not_the_argmax_of_the_scores_When_the_order_is_read_Then_it_is_unknown()
    {
        EvaluationMetrics.ClassOrder(["a", "a", "b", "a"], Scores, Actual).ShouldBeNull();
    }

    [Fact]
    public void Given_a_zero_probability_for_the_true_class_When_log_loss_is_computed_Then_it_is_clipped_at_1e_15()
    {
        var metrics = new Dictionary<string, double>();
        EvaluationMetrics.AddProbabilistic(metrics, ["a", "b"], [[1f, 0f], [1f, 0f]], ["a", "b"]);

        // Row 1: −ln(1 − 1e-15) ≈ 1e-15; row 2: −ln(1e-15) = 34.538776.
        metrics["logLoss"].ShouldBe((-Math.Log(1 - 1e-15) - Math.Log(1e-15)) / 2, 1e-9);
        metrics["auc"].ShouldBe(0.5); // Neither column separates the two rows.
    }

    [Fact]
    public void Given_scores_that_do_not_sum_to_one_When_log_loss_is_computed_Then_rows_are_normalized_and_negative_scores_give_none()
    {
        var metrics = new Dictionary<string, double>();
        EvaluationMetrics.AddProbabilistic(metrics, ["a", "b"], [[3f, 1f], [2f, 2f]], ["a", "b"]);
        metrics["logLoss"].ShouldBe(-(Math.Log(0.75) + Math.Log(0.5)) / 2, 1e-9);

        var margins = new Dictionary<string, double>();
        EvaluationMetrics.AddProbabilistic(margins, ["a", "b"], [[2f, -1f], [-1f, 0.5f]], ["a", "b"]);
        margins.ShouldNotContainKey("logLoss");
        margins["auc"].ShouldBe(1.0);
    }

    [Theory]
    [InlineData(TrainerCatalog.Sdca)]
    [InlineData(TrainerCatalog.LightGbm)]
    public void Given_an_ML_NET_multiclass_export_When_scored_through_ONNX_Then_log_loss_matches_ML_NET_and_AUC_is_high(string trainer)
    {
        var (label, features) = SampleData.For("multiclass");
        var data = TabularData.ParseCsv("sample.csv", SampleData.Csv());
        var trained = LocalTrainingBackend.Train(data, label, TrainingTask.Multiclass, trainer, features, [], 5, "sample.csv", CancellationToken.None);

        using (var cancelled = new CancellationTokenSource())
        {
            // A cancelled evaluation stops before scoring.
            cancelled.Cancel();
            Should.Throw<OperationCanceledException>(() => OnnxScorer.Score(trained.Onnx, data, label, TrainingTask.Multiclass, cancelled.Token));
        }

        var scores = OnnxScorer.Score(trained.Onnx, data, label, TrainingTask.Multiclass);
        var actual = data.Values(data.IndexOf(label)).Select(v => v!).ToArray();
        var classes = EvaluationMetrics.ClassOrder(scores.PredictedLabel!, scores.ClassScores!, actual);

        classes.ShouldNotBeNull();
        classes.Order(StringComparer.Ordinal).ShouldBe(["bronze", "gold", "silver"]);
        var metrics = EvaluationMetrics.Multiclass(actual, scores.PredictedLabel!);
        EvaluationMetrics.AddProbabilistic(metrics, actual, scores.ClassScores!, classes);
        metrics["logLoss"].ShouldBe(trained.Metrics["logLoss"], 1e-3);
        metrics["auc"].ShouldBeGreaterThan(0.9);
    }
}
