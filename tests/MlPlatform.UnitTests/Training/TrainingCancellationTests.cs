using System.Text.Json.Nodes;
using MlPlatform.DataPipelines.Training;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.DataPipelines.Training.Local;

namespace MlPlatform.UnitTests.Training;

/// <summary>A step timeout or run cancel interrupts ML.NET while it trains, instead of being seen only after the model is done.</summary>
public sealed class TrainingCancellationTests
{
    [Fact]
    public void Given_ML_NET_5_When_the_backend_starts_Then_the_cancel_hook_of_MLContext_is_found()
    {
        LocalTrainingBackend.CancelExecution.ShouldNotBeNull("ML.NET no longer has MLContext.CancelExecution(): training can no longer be interrupted.");
    }

    // LightGBM checks ML.NET's cancel flag between boosting rounds. FastTree (ML.NET 5.0.1) does not
    // while it grows trees: 100,000 trees ran on for minutes after the cancel, which was then seen
    // after Fit; SDCA converges before a cancel could be shown reliably. So only LightGBM is here.
    [Theory]
    [InlineData(TrainerCatalog.LightGbm, "numberOfIterations")]
    public async Task Given_a_training_that_would_run_for_minutes_When_its_token_is_cancelled_Then_the_trainer_itself_stops_with_OperationCanceledException(string trainer, string rounds)
    {
        var data = TabularData.ParseCsv("big.csv", SampleData.Csv(rows: 20_000));
        var (label, features) = SampleData.For("regression");
        using var cancel = new CancellationTokenSource();
        var training = Task.Run(() => LocalTrainingBackend.Train(
            data, label, TrainingTask.Regression, trainer, features,
            new JsonObject { [rounds] = 100_000, ["numberOfLeaves"] = 64 }, 5, "big.csv", cancel.Token));

        // Long enough for the data to be loaded and the trainer to be in its loop; far from its end.
        cancel.CancelAfter(TimeSpan.FromSeconds(3));

        OperationCanceledException? ex = null;
        try
        {
            var trained = await training;
            throw new ShouldAssertException($"Training ended with a model of {trained.Onnx.Length} bytes instead of being cancelled.");
        }
        catch (OperationCanceledException cancelled)
        {
            ex = cancelled;
        }

        ex.CancellationToken.ShouldBe(cancel.Token);
        // Thrown by ML.NET inside Fit, not by the check after it: the trainer was interrupted.
        var inner = ex.InnerException.ShouldBeAssignableTo<OperationCanceledException>();
        inner!.StackTrace.ShouldNotBeNull();
        inner.StackTrace.ShouldContain("Microsoft.ML");
    }
}
