using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.IntegrationTests.ModelRegistry;
using MlPlatform.Tests.Onnx;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.Training.TrainingApi;

namespace MlPlatform.IntegrationTests.Training;

/// <summary><c>model.train</c> and <c>model.evaluate</c> inside real workflow runs, on SQLite and PostgreSQL, artifacts in the local folder.</summary>
public sealed class TrainingWorkflowTests(TrainingHostsFixture hosts) : IClassFixture<TrainingHostsFixture>
{
    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static readonly string[] Features = ["x1", "x2", "colour"];

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_data_in_the_store_When_each_task_is_trained_and_evaluated_on_the_same_rows_Then_ONNX_metrics_match_ML_NET_metrics(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("tasks");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", Csv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "binary", type = "model.train", @params = new { data, label = "churn", task = "binary", trainer = "sdca", features = Features, seed = 7 } },
                new { id = "multi", type = "model.train", @params = new { data, label = "segment", task = "multiclass", trainer = "fasttree", features = Features, hyperparameters = new { numberOfTrees = 20 } } },
                new { id = "regress", type = "model.train", @params = new { data, label = "spend", task = "regression", trainer = "lightgbm", features = Features, hyperparameters = new { numberOfIterations = 50, learningRate = 0.2 } } },
                new { id = "eval-binary", type = "model.evaluate", dependsOn = new[] { "binary" }, @params = new { modelKey = "${steps.binary.outputs.modelKey}", data, label = "churn", task = "binary" } },
                new { id = "eval-multi", type = "model.evaluate", dependsOn = new[] { "multi" }, @params = new { modelKey = "${steps.multi.outputs.modelKey}", data, label = "segment", task = "multiclass" } },
                new { id = "eval-regress", type = "model.evaluate", dependsOn = new[] { "regress" }, @params = new { modelKey = "${steps.regress.outputs.modelKey}", data, label = "spend", task = "regression" } },
            },
        });

        var id = await Start(api.Maintainer, api.Project, name);
        var run = await WaitFor(api.Maintainer, api.Project, id);

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var binary = Outputs(run, "binary");
        binary.GetProperty("modelKey").GetString().ShouldBe($"runs/{id}/binary/model.onnx");
        binary.GetProperty("trainer").GetString().ShouldBe("sdca");
        binary.GetProperty("task").GetString().ShouldBe("binary");
        binary.GetProperty("metrics").GetProperty("auc").GetDouble().ShouldBe(binary.GetProperty("auc").GetDouble());
        binary.GetProperty("accuracy").GetDouble().ShouldBeGreaterThan(0.8);
        File.Exists(Path.Combine(api.Factory.DataDirectory, "artifacts", "runs", id.ToString(), "binary", "model.onnx")).ShouldBeTrue();

        // The ONNX export scored by ONNX Runtime agrees with ML.NET's own evaluation of the same rows.
        var evalBinary = Outputs(run, "eval-binary");
        evalBinary.GetProperty("accuracy").GetDouble().ShouldBe(binary.GetProperty("accuracy").GetDouble(), 0.01);
        evalBinary.GetProperty("auc").GetDouble().ShouldBe(binary.GetProperty("auc").GetDouble(), 0.001);
        evalBinary.GetProperty("logLoss").GetDouble().ShouldBe(binary.GetProperty("logLoss").GetDouble(), 0.01);
        foreach (var metric in new[] { "precision", "recall", "f1" })
        {
            evalBinary.GetProperty(metric).GetDouble().ShouldBeInRange(0, 1);
        }

        var evalMulti = Outputs(run, "eval-multi");
        evalMulti.GetProperty("accuracy").GetDouble().ShouldBe(Outputs(run, "multi").GetProperty("accuracy").GetDouble(), 1e-9);
        evalMulti.GetProperty("logLoss").GetDouble().ShouldBe(Outputs(run, "multi").GetProperty("logLoss").GetDouble(), 1e-3);
        evalMulti.GetProperty("auc").GetDouble().ShouldBeInRange(0.5, 1.0);
        var regress = Outputs(run, "regress");
        var evalRegress = Outputs(run, "eval-regress");
        evalRegress.GetProperty("rmse").GetDouble().ShouldBe(regress.GetProperty("rmse").GetDouble(), 1e-3);
        evalRegress.GetProperty("mae").GetDouble().ShouldBe(regress.GetProperty("mae").GetDouble(), 1e-3);
        evalRegress.GetProperty("r2").GetDouble().ShouldBe(regress.GetProperty("r2").GetDouble(), 1e-3);
        evalRegress.GetProperty("rows").GetInt32().ShouldBe(240);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_Parquet_data_written_by_DuckDB_When_trained_and_evaluated_Then_the_run_succeeds_like_on_the_same_rows_in_CSV(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("parquet");
        var csv = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", Csv());
        var parquet = await PutParquetAsync(api, $"projects/{api.Project}/{name}/train.parquet", Csv());
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "pq", type = "model.train", @params = new { data = parquet, label = "segment", task = "multiclass", trainer = "lightgbm", features = Features } },
                new { id = "text", type = "model.train", @params = new { data = csv, label = "segment", task = "multiclass", trainer = "lightgbm", features = Features } },
                new { id = "evaluate", type = "model.evaluate", dependsOn = new[] { "pq" }, @params = new { modelKey = "${steps.pq.outputs.modelKey}", data = parquet, label = "segment", task = "multiclass" } },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var fromParquet = Outputs(run, "pq");
        fromParquet.GetProperty("rows").GetInt32().ShouldBe(240);
        fromParquet.GetProperty("accuracy").GetDouble().ShouldBe(Outputs(run, "text").GetProperty("accuracy").GetDouble());
        (await ReadAsync(api, fromParquet.GetProperty("modelKey").GetString()!)).ShouldBe(await ReadAsync(api, Outputs(run, "text").GetProperty("modelKey").GetString()!));
        Outputs(run, "evaluate").GetProperty("accuracy").GetDouble().ShouldBe(fromParquet.GetProperty("accuracy").GetDouble(), 1e-9);
    }

    /// <summary>Converts the CSV with DuckDB (<c>COPY … TO … (FORMAT parquet)</c>) and puts the file in the host's store.</summary>
    private static async Task<string> PutParquetAsync(WorkflowTestAccounts api, string key, string csv)
    {
        var folder = Directory.CreateTempSubdirectory("mlp-parquet-");
        try
        {
            var csvPath = Path.Combine(folder.FullName, "data.csv");
            var parquetPath = Path.Combine(folder.FullName, "data.parquet");
            await File.WriteAllTextAsync(csvPath, csv);
            using (var connection = new DuckDB.NET.Data.DuckDBConnection("DataSource=:memory:"))
            {
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = $"COPY (SELECT * FROM read_csv('{csvPath}', header=true)) TO '{parquetPath}' (FORMAT parquet)";
                command.ExecuteNonQuery();
            }

            await using var content = File.OpenRead(parquetPath);
            await Store(api).PutAsync(key, content, "application/vnd.apache.parquet");
            return key;
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_when_condition_on_an_evaluate_metric_When_run_Then_only_the_step_whose_gate_holds_runs(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("gate");
        var train = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", Csv(seed: 1));
        var test = await PutAsync(api, $"projects/{api.Project}/{name}/test.csv", Csv(rows: 120, seed: 2));
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            parameters = new { threshold = new { type = "number", @default = 0.8 } },
            steps = new object[]
            {
                new { id = "train", type = "model.train", @params = new { data = train, label = "churn", task = "binary", trainer = "lightgbm", features = Features } },
                new { id = "evaluate", type = "model.evaluate", dependsOn = new[] { "train" }, @params = new { modelKey = "${steps.train.outputs.modelKey}", data = test, label = "churn", task = "binary" } },
                new { id = "register", type = "noop", dependsOn = new[] { "evaluate" }, when = "${steps.evaluate.outputs.accuracy} >= ${params.threshold}" },
            },
        });

        var passed = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));
        var blocked = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name, new { threshold = 0.999 }));

        passed.GetProperty("state").GetString().ShouldBe("succeeded", passed.ToString());
        Outputs(passed, "evaluate").GetProperty("accuracy").GetDouble().ShouldBeInRange(0.8, 0.999);
        State(passed, "register").ShouldBe("succeeded");
        State(blocked, "register").ShouldBe("skipped");
        // Same seed, same data: the second run trained the same model.
        Outputs(blocked, "evaluate").GetProperty("accuracy").GetDouble().ShouldBe(Outputs(passed, "evaluate").GetProperty("accuracy").GetDouble());
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_a_registered_ONNX_version_When_evaluated_by_model_and_version_Then_metrics_are_output_and_recorded_when_the_registry_can(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var model = NewName("eval");
        await RegistryApi.Json(await RegistryApi.CreateModel(api.Maintainer, api.Project, model), HttpStatusCode.Created);
        await RegistryApi.Json(await RegistryApi.UploadMultipart(api.Maintainer, api.Project, model, RegistryApi.Model(0.25f)), HttpStatusCode.Created);

        // Labels from the hand-written model itself (y = sigmoid(x·W + b) >= 0.5), with every 10th flipped.
        var random = new Random(4);
        var csv = new System.Text.StringBuilder("a,b,c,label\n");
        for (var i = 0; i < 100; i++)
        {
            float[] x = [(float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 2 - 1, (float)random.NextDouble() * 2 - 1];
            var positive = OnnxModelWriter.Expected(RegistryApi.Weights, 0.25f, x) >= 0.5f;
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{x[0]:R},{x[1]:R},{x[2]:R},{(i % 10 == 0 ? !positive : positive).ToString().ToLowerInvariant()}\n");
        }

        var data = await PutAsync(api, $"projects/{api.Project}/{model}/test.csv", csv.ToString());
        var name = NewName("evalwf");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[] { new { id = "evaluate", type = "model.evaluate", @params = new { model, version = 1, data, label = "label", task = "binary" } } },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("succeeded", run.ToString());
        var outputs = Outputs(run, "evaluate");
        outputs.GetProperty("accuracy").GetDouble().ShouldBe(0.9, 1e-9);
        outputs.GetProperty("model").GetString().ShouldBe(model);
        outputs.GetProperty("version").GetInt32().ShouldBe(1);
        var canRecord = api.Factory.Services.CreateScope().ServiceProvider.GetService<IModelVersionMetrics>() is not null;
        outputs.GetProperty("recorded").GetBoolean().ShouldBe(canRecord);
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_bad_training_input_Then_params_are_refused_at_submit_and_a_missing_label_fails_the_step_without_retries(DatabaseProvider provider)
    {
        var api = await hosts.For(provider);
        var name = NewName("badtrain");
        var data = await PutAsync(api, $"projects/{api.Project}/{name}/train.csv", Csv(rows: 50));
        var foreign = await PutAsync(api, $"projects/{api.OtherProject}/{name}/train.csv", Csv(rows: 50));

        var refused = await SubmitRaw(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "train", type = "model.train", @params = new { data, label = "churn", task = "binary", trainer = "fasttree", hyperparameters = new { numberOfTrees = 0, depth = 3 } } },
                new { id = "evaluate", type = "model.evaluate", @params = new { data, label = "churn", task = "ranking" } },
            },
        });
        refused.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity);
        var problem = await refused.Content.ReadAsStringAsync();
        problem.ShouldContain("steps[0].params.hyperparameters.depth");
        problem.ShouldContain("steps[0].params.hyperparameters.numberOfTrees");
        problem.ShouldContain("steps[1].params.task");
        problem.ShouldContain("steps[1].params.model");

        await Submit(api.Maintainer, api.Project, new
        {
            name,
            steps = new object[]
            {
                new { id = "train", type = "model.train", @params = new { data, label = "price", task = "regression" }, retries = new { max = 3, backoff = "100ms" } },
                new { id = "missing", type = "model.train", @params = new { data = $"projects/{api.Project}/{name}/nothing.csv", label = "churn", task = "binary" } },
                // Another project's file (it exists) and another project's model file: out of a step's reach.
                new { id = "foreign", type = "model.train", @params = new { data = foreign, label = "churn", task = "binary" } },
                new { id = "foreign-model", type = "model.evaluate", @params = new { modelKey = $"models/{Guid.NewGuid():N}/model.onnx", data, label = "churn", task = "binary" } },
            },
        });
        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("failed");
        State(run, "train").ShouldBe("failed");
        var attempts = Attempts(run, "train");
        attempts.Count.ShouldBe(1);
        attempts[0].GetProperty("error").GetString()!.ShouldContain("The label column 'price' is not in");
        Attempts(run, "missing").Single().GetProperty("error").GetString()!.ShouldContain("does not exist");
        Attempts(run, "foreign").Single().GetProperty("error").GetString()!.ShouldContain("not found in this project's areas");
        Attempts(run, "foreign-model").Single().GetProperty("error").GetString()!.ShouldContain("not found in this project's areas");
        State(run, "foreign").ShouldBe("failed");
        (await Store(api).ExistsAsync($"runs/{run.GetProperty("id").GetGuid()}/train/model.onnx")).ShouldBeFalse();
    }
}
