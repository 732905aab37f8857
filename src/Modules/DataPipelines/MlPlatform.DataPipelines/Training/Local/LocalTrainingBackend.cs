using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;
using Microsoft.ML.Trainers.FastTree;
using Microsoft.ML.Trainers.LightGbm;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training.Local;

/// <summary>
/// Trains in this process with ML.NET and exports ONNX. Deterministic for a given seed: the
/// MLContext and the tree trainers are seeded and run single-threaded (SDCA and LightGBM are not
/// reproducible across thread counts).
/// </summary>
internal sealed class LocalTrainingBackend(TrainingSettings settings) : ITrainingBackend
{
    public const string BackendName = "local";

    public string Name => BackendName;

    public void Validate(TrainingTask? task, string? trainer, JsonObject? hyperparameters, JsonObject? options, List<StepParameterError> errors)
    {
        TrainerCatalog.Validate(trainer, hyperparameters, errors);
        if (options is not null)
        {
            errors.Add(new StepParameterError("sagemaker", "The 'sagemaker' options only apply with backend 'sagemaker'."));
        }
    }

    public async Task<TrainingProgress> TrainAsync(TrainingJob job, CancellationToken cancellationToken)
    {
        var data = await TabularData.ReadAsync(job.Store, job.DataKey, settings.MaxDataBytes, cancellationToken);
        var trained = Train(data, job.Label, job.Task, job.Trainer, job.Features, job.Hyperparameters, job.Seed, job.DataKey, cancellationToken);
        job.Log.Info($"Trained {job.Trainer} ({TaskName(job.Task)}) on {data.Rows.Count} rows with {trained.FeatureColumns.Count} feature columns.");

        await using (var onnx = new MemoryStream(trained.Onnx, writable: false))
        {
            await job.Store.PutAsync(job.ModelKey, onnx, "application/octet-stream", cancellationToken);
        }

        return new TrainingProgress.Completed(job.ModelKey, trained.Metrics, new Dictionary<string, JsonNode?>
        {
            ["rows"] = data.Rows.Count,
            ["features"] = new JsonArray(trained.FeatureColumns.Select(f => (JsonNode?)f).ToArray()),
        });
    }

    public static string TaskName(TrainingTask task) => task.ToString().ToLowerInvariant();

    /// <summary>The result of training in memory: the ML.NET model (tests compare it with its ONNX export), the export and metrics on the training data.</summary>
    internal sealed record Trained(MLContext Context, ITransformer Model, IDataView Data, byte[] Onnx, IReadOnlyDictionary<string, double> Metrics, IReadOnlyList<string> FeatureColumns);

    /// <summary>The name of the label's input in exported models.</summary>
    public const string LabelInput = "Label";

    /// <summary>
    /// ML.NET's cancel flag (checked by its trainers between iterations) is set by
    /// <c>MLContext.CancelExecution()</c>, which ML.NET 5 keeps internal (for its AutoML): no public
    /// member reaches it, so it is looked up once here. Null if a later version drops it; training
    /// then runs to its end and the cancel is seen after it (a unit test fails in that case, so an
    /// upgrade notices).
    /// </summary>
    internal static readonly System.Reflection.MethodInfo? CancelExecution = typeof(MLContext).GetMethod(
        "CancelExecution", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Public, Type.EmptyTypes);

    internal static Trained Train(TabularData data, string label, TrainingTask task, string trainer, IReadOnlyList<string>? features, JsonObject hyperparameters, int seed, string dataName, CancellationToken cancellationToken)
    {
        var labelIndex = data.IndexOf(label);
        if (labelIndex < 0)
        {
            throw new StepFailedException($"The label column '{label}' is not in '{dataName}' (columns: {string.Join(", ", data.Columns)}).", retryable: false);
        }

        var featureColumns = features?.ToList() ?? data.Columns.Where(c => c != label).ToList();
        var unknown = featureColumns.Where(f => data.IndexOf(f) < 0).ToList();
        if (unknown.Count > 0)
        {
            throw new StepFailedException($"Feature column(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))} not in '{dataName}' (columns: {string.Join(", ", data.Columns)}).", retryable: false);
        }

        if (featureColumns.Contains(label))
        {
            throw new StepFailedException($"The label column '{label}' cannot also be a feature.", retryable: false);
        }

        if (featureColumns.Count == 0)
        {
            throw new StepFailedException($"'{dataName}' has no feature columns besides the label '{label}'.", retryable: false);
        }

        CheckLabel(data, labelIndex, label, task, dataName);

        // The label enters the model as "Label", whatever its column is called: serving feeds a
        // dummy to an ML.NET export's input of that name (STACK-NOTES), and would otherwise ask every
        // caller for the label column. A feature already named Label keeps the column's own name.
        var labelColumn = featureColumns.Contains(LabelInput) ? label : LabelInput;
        var ml = new MLContext(seed);
        var path = Path.Combine(Path.GetTempPath(), $"mlp-train-{Guid.NewGuid():N}.csv");
        try
        {
            // ML.NET's text loader reads the normalized copy: our own parser has checked the shape
            // and the binary labels are spelled true/false.
            var used = featureColumns.Append(label).ToList();
            WriteNormalized(data, used, labelIndex, task, path);
            var loaderColumns = used.Select((name, i) => new TextLoader.Column(name == label ? labelColumn : name, ColumnType(data, name, label, task), i)).ToArray();
            var loader = ml.Data.CreateTextLoader(new TextLoader.Options
            {
                HasHeader = true,
                Separators = [','],
                AllowQuoting = true,
                ReadMultilines = true,
                Columns = loaderColumns,
            });
            var view = ml.Data.Cache(loader.Load(path));

            var featureVector = data.Columns.Contains("Features") ? "__features" : "Features";
            IEstimator<ITransformer> pipeline = new EstimatorChain<ITransformer>();
            foreach (var name in featureColumns)
            {
                var kind = data.Kinds[data.IndexOf(name)];
                if (kind == ColumnKind.Text)
                {
                    pipeline = pipeline.Append(ml.Transforms.Categorical.OneHotEncoding(name, name));
                }
                else if (data.Values(data.IndexOf(name)).Any(v => v is null))
                {
                    pipeline = pipeline.Append(ml.Transforms.ReplaceMissingValues(name, name, Microsoft.ML.Transforms.MissingValueReplacingEstimator.ReplacementMode.Mean));
                }
            }

            pipeline = pipeline.Append(ml.Transforms.Concatenate(featureVector, featureColumns.ToArray()));
            if (task == TrainingTask.Multiclass)
            {
                pipeline = pipeline.Append(ml.Transforms.Conversion.MapValueToKey(labelColumn, labelColumn));
            }

            pipeline = pipeline.Append(Trainer(ml, task, trainer, labelColumn, featureVector, hyperparameters, seed));
            if (task == TrainingTask.Multiclass)
            {
                pipeline = pipeline.Append(ml.Transforms.Conversion.MapKeyToValue("PredictedLabel", "PredictedLabel"));
            }

            cancellationToken.ThrowIfCancellationRequested();
            // A step timeout or a run cancel interrupts the trainer itself: ML.NET checks its
            // environment's cancel flag between iterations and throws OperationCanceledException.
            ITransformer model;
            using (CancelExecution is { } cancel ? cancellationToken.Register(state => cancel.Invoke(state, null), ml) : default(CancellationTokenRegistration))
            {
                model = pipeline.Fit(view);
            }

            cancellationToken.ThrowIfCancellationRequested();
            var scored = model.Transform(view);
            var metrics = Evaluate(ml, task, scored, labelColumn);
            using var onnx = new MemoryStream();
            ml.Model.ConvertToOnnx(model, view, onnx);
            return new Trained(ml, model, view, onnx.ToArray(), metrics, featureColumns);
        }
        catch (OperationCanceledException ex) when (cancellationToken.IsCancellationRequested && ex.CancellationToken != cancellationToken)
        {
            throw new OperationCanceledException("Training was cancelled while the trainer ran.", ex, cancellationToken);
        }
        catch (InvalidOperationException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // ML.NET reports unusable data (a single class, no rows left) this way.
            throw new StepFailedException($"Training failed: {ex.Message}", retryable: false, ex);
        }
        catch (ArgumentOutOfRangeException ex)
        {
            throw new StepFailedException($"Training failed: {ex.Message}", retryable: false, ex);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static DataKind ColumnType(TabularData data, string name, string label, TrainingTask task)
    {
        if (name == label)
        {
            return task switch
            {
                TrainingTask.Binary => DataKind.Boolean,
                TrainingTask.Multiclass => DataKind.String,
                _ => DataKind.Single,
            };
        }

        return data.Kinds[data.IndexOf(name)] == ColumnKind.Numeric ? DataKind.Single : DataKind.String;
    }

    private static void CheckLabel(TabularData data, int labelIndex, string label, TrainingTask task, string dataName)
    {
        var line = 1;
        foreach (var value in data.Values(labelIndex))
        {
            line++;
            if (value is null)
            {
                throw new StepFailedException($"'{dataName}' row {line - 1}: the label '{label}' is empty.", retryable: false);
            }

            if (task == TrainingTask.Binary && ParseBinary(value) is null)
            {
                throw new StepFailedException($"'{dataName}' row {line - 1}: the binary label '{label}' is '{value}'; use true/false, 1/0 or yes/no.", retryable: false);
            }

            if (task == TrainingTask.Regression && !double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _))
            {
                throw new StepFailedException($"'{dataName}' row {line - 1}: the regression label '{label}' is '{value}', not a number.", retryable: false);
            }
        }
    }

    /// <summary>true/false, 1/0, yes/no (any case); null for anything else.</summary>
    public static bool? ParseBinary(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "1.0" => true,
        "false" or "0" or "no" or "0.0" => false,
        _ => null,
    };

    private static void WriteNormalized(TabularData data, List<string> columns, int labelIndex, TrainingTask task, string path)
    {
        var indexes = columns.Select(data.IndexOf).ToArray();
        using var writer = new StreamWriter(path, false, new UTF8Encoding(false));
        writer.WriteLine(string.Join(',', columns.Select(Quote)));
        var line = new StringBuilder();
        foreach (var row in data.Rows)
        {
            line.Clear();
            for (var i = 0; i < indexes.Length; i++)
            {
                if (i > 0)
                {
                    line.Append(',');
                }

                var value = row[indexes[i]];
                if (indexes[i] == labelIndex && task == TrainingTask.Binary)
                {
                    value = ParseBinary(value) == true ? "true" : "false";
                }

                if (value is not null)
                {
                    line.Append(Quote(value));
                }
            }

            writer.WriteLine(line);
        }
    }

    private static string Quote(string value) => "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static IEstimator<ITransformer> Trainer(MLContext ml, TrainingTask task, string trainer, string label, string features, JsonObject h, int seed)
    {
        var l2 = (float?)TrainerCatalog.Number(h, "l2Regularization");
        var l1 = (float?)TrainerCatalog.Number(h, "l1Regularization");
        var passes = TrainerCatalog.Int(h, "maximumNumberOfIterations");
        var leaves = TrainerCatalog.Int(h, "numberOfLeaves");
        var trees = TrainerCatalog.Int(h, "numberOfTrees");
        var rounds = TrainerCatalog.Int(h, "numberOfIterations");
        var minLeaf = TrainerCatalog.Int(h, "minimumExampleCountPerLeaf");
        var rate = TrainerCatalog.Number(h, "learningRate");

        // The SDCA option classes share fields but no settable base across tasks, hence three lines each.
        var sdcaBinary = new SdcaLogisticRegressionBinaryTrainer.Options { LabelColumnName = label, FeatureColumnName = features, NumberOfThreads = 1, L2Regularization = l2, L1Regularization = l1, MaximumNumberOfIterations = passes };
        var sdcaMulti = new SdcaMaximumEntropyMulticlassTrainer.Options { LabelColumnName = label, FeatureColumnName = features, NumberOfThreads = 1, L2Regularization = l2, L1Regularization = l1, MaximumNumberOfIterations = passes };
        var sdcaRegression = new SdcaRegressionTrainer.Options { LabelColumnName = label, FeatureColumnName = features, NumberOfThreads = 1, L2Regularization = l2, L1Regularization = l1, MaximumNumberOfIterations = passes };

        T Tree<T>(T o)
            where T : BoostedTreeOptions
        {
            o.LabelColumnName = label;
            o.FeatureColumnName = features;
            o.NumberOfThreads = 1;
            o.Seed = seed;
            o.NumberOfLeaves = leaves ?? o.NumberOfLeaves;
            o.NumberOfTrees = trees ?? o.NumberOfTrees;
            o.MinimumExampleCountPerLeaf = minLeaf ?? o.MinimumExampleCountPerLeaf;
            o.LearningRate = rate ?? o.LearningRate;
            return o;
        }

        // LightGBM's option classes differ only in their generic base, so the same fields are set per class.
        var gbmBinary = new LightGbmBinaryTrainer.Options { LabelColumnName = label, FeatureColumnName = features, NumberOfThreads = 1, Seed = seed, Deterministic = true };
        var gbmMulti = new LightGbmMulticlassTrainer.Options { LabelColumnName = label, FeatureColumnName = features, NumberOfThreads = 1, Seed = seed, Deterministic = true };
        var gbmRegression = new LightGbmRegressionTrainer.Options { LabelColumnName = label, FeatureColumnName = features, NumberOfThreads = 1, Seed = seed, Deterministic = true };
        gbmBinary.NumberOfLeaves = gbmMulti.NumberOfLeaves = gbmRegression.NumberOfLeaves = leaves ?? gbmBinary.NumberOfLeaves;
        gbmBinary.NumberOfIterations = gbmMulti.NumberOfIterations = gbmRegression.NumberOfIterations = rounds ?? gbmBinary.NumberOfIterations;
        gbmBinary.MinimumExampleCountPerLeaf = gbmMulti.MinimumExampleCountPerLeaf = gbmRegression.MinimumExampleCountPerLeaf = minLeaf ?? gbmBinary.MinimumExampleCountPerLeaf;
        gbmBinary.LearningRate = gbmMulti.LearningRate = gbmRegression.LearningRate = rate ?? gbmBinary.LearningRate;

        return (task, trainer) switch
        {
            (TrainingTask.Binary, TrainerCatalog.Sdca) => ml.BinaryClassification.Trainers.SdcaLogisticRegression(sdcaBinary),
            (TrainingTask.Binary, TrainerCatalog.FastTree) => ml.BinaryClassification.Trainers.FastTree(Tree(new FastTreeBinaryTrainer.Options())),
            (TrainingTask.Binary, TrainerCatalog.LightGbm) => ml.BinaryClassification.Trainers.LightGbm(gbmBinary),
            (TrainingTask.Multiclass, TrainerCatalog.Sdca) => ml.MulticlassClassification.Trainers.SdcaMaximumEntropy(sdcaMulti),
            (TrainingTask.Multiclass, TrainerCatalog.FastTree) => ml.MulticlassClassification.Trainers.OneVersusAll(
                ml.BinaryClassification.Trainers.FastTree(Tree(new FastTreeBinaryTrainer.Options())), labelColumnName: label),
            (TrainingTask.Multiclass, TrainerCatalog.LightGbm) => ml.MulticlassClassification.Trainers.LightGbm(gbmMulti),
            (TrainingTask.Regression, TrainerCatalog.Sdca) => ml.Regression.Trainers.Sdca(sdcaRegression),
            (TrainingTask.Regression, TrainerCatalog.FastTree) => ml.Regression.Trainers.FastTree(Tree(new FastTreeRegressionTrainer.Options())),
            (TrainingTask.Regression, TrainerCatalog.LightGbm) => ml.Regression.Trainers.LightGbm(gbmRegression),
            _ => throw new StepFailedException($"Unknown trainer '{trainer}' (known: {string.Join(", ", TrainerCatalog.Names)}).", retryable: false),
        };
    }

    private static Dictionary<string, double> Evaluate(MLContext ml, TrainingTask task, IDataView scored, string label)
    {
        var metrics = new Dictionary<string, double>(StringComparer.Ordinal);
        void Add(string name, double value)
        {
            if (double.IsFinite(value))
            {
                metrics[name] = value;
            }
        }

        switch (task)
        {
            case TrainingTask.Binary:
                var binary = ml.BinaryClassification.Evaluate(scored, label);
                Add("accuracy", binary.Accuracy);
                Add("auc", binary.AreaUnderRocCurve);
                Add("f1", binary.F1Score);
                Add("precision", binary.PositivePrecision);
                Add("recall", binary.PositiveRecall);
                // ML.NET reports binary log loss in bits; the usual definition (and model.evaluate) uses nats.
                Add("logLoss", binary.LogLoss * Math.Log(2));
                break;
            case TrainingTask.Multiclass:
                var multi = ml.MulticlassClassification.Evaluate(scored, label);
                Add("accuracy", multi.MicroAccuracy);
                Add("macroAccuracy", multi.MacroAccuracy);
                Add("logLoss", multi.LogLoss);
                break;
            default:
                var regression = ml.Regression.Evaluate(scored, label);
                Add("rmse", regression.RootMeanSquaredError);
                Add("mae", regression.MeanAbsoluteError);
                Add("r2", regression.RSquared);
                break;
        }

        return metrics;
    }
}
