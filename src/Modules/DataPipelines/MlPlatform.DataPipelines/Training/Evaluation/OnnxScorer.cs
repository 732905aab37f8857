using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using MlPlatform.DataPipelines.Training.Data;
using MlPlatform.DataPipelines.Training.Local;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.DataPipelines.Training.Evaluation;

/// <summary>What a model said for each row: the positive-class probability, the score, or the label (and, multiclass, the score vector when the model has one).</summary>
internal sealed record Scores(float[]? Probability, float[]? Score, string[]? PredictedLabel, float[][]? ClassScores = null);

/// <summary>
/// Scores a table with an ONNX model through ONNX Runtime, as serving does. Two input styles are
/// understood: one input per column named like the column (ML.NET exports; the label column's
/// input gets the label values or a dummy), or one float matrix [N, k] fed with the k numeric
/// non-label columns in file order. Outputs are found by their ML.NET names (with or without the
/// exporter's ".output" suffix), or else the model's first output.
/// </summary>
internal static class OnnxScorer
{
    private const int BatchSize = 4096;

    public static Scores Score(byte[] model, TabularData data, string label, TrainingTask task, CancellationToken cancellationToken = default)
    {
        InferenceSession session;
        try
        {
            session = new InferenceSession(model);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new StepFailedException($"The model is not a valid ONNX model: {ex.Message}", retryable: false, ex);
        }

        using (session)
        {
            var outputs = session.OutputMetadata.Keys.ToList();
            var probabilityName = Find(outputs, "Probability");
            var scoreName = Find(outputs, "Score");
            var labelName = Find(outputs, "PredictedLabel");
            var fallback = outputs[0];
            var probability = task == TrainingTask.Binary ? new List<float>() : null;
            var score = task == TrainingTask.Regression ? new List<float>() : null;
            var predicted = task == TrainingTask.Multiclass ? new List<string>() : null;
            // The per-class vector: ML.NET's Score, or a probabilities tensor of other exporters.
            var vectorName = task == TrainingTask.Multiclass && labelName is not null
                ? scoreName ?? Find(outputs, "probabilities") ?? Find(outputs, "output_probability")
                : null;
            var vectors = vectorName is not null ? new List<float[]>() : null;

            for (var start = 0; start < data.Rows.Count; start += BatchSize)
            {
                // A cancelled or timed-out step stops between batches rather than scoring the whole file.
                cancellationToken.ThrowIfCancellationRequested();
                var count = Math.Min(BatchSize, data.Rows.Count - start);
                var inputs = session.InputMetadata.Select(i => Input(i.Key, i.Value, data, label, start, count)).ToList();
                using var results = session.Run(inputs);
                var byName = results.ToDictionary(r => r.Name);
                switch (task)
                {
                    case TrainingTask.Binary:
                        probability!.AddRange(FirstColumn(byName[probabilityName ?? scoreName ?? fallback], count));
                        break;
                    case TrainingTask.Regression:
                        score!.AddRange(FirstColumn(byName[scoreName ?? fallback], count));
                        break;
                    default:
                        predicted!.AddRange(Labels(byName[labelName ?? fallback], count));
                        if (vectors is not null && Rows(byName[vectorName!], count) is { } rows)
                        {
                            vectors.AddRange(rows);
                        }
                        else
                        {
                            vectors = null;
                        }

                        break;
                }
            }

            return new Scores(probability?.ToArray(), score?.ToArray(), predicted?.ToArray(), vectors?.ToArray());
        }
    }

    private static string? Find(List<string> outputs, string name) =>
        outputs.FirstOrDefault(o => o == name + ".output") ?? outputs.FirstOrDefault(o => o == name);

    private static NamedOnnxValue Input(string name, NodeMetadata meta, TabularData data, string label, int start, int count)
    {
        var width = meta.Dimensions.Length >= 2 && meta.Dimensions[1] > 0 ? meta.Dimensions[1] : 1;
        var column = data.IndexOf(name);
        if (column >= 0 && width == 1)
        {
            var values = data.Rows.Skip(start).Take(count).Select(r => r[column]).ToArray();
            return Column(name, meta.ElementDataType, values, count);
        }

        if (column < 0 && meta.ElementDataType == TensorElementType.Float && name != label && width > 1)
        {
            var numeric = Enumerable.Range(0, data.Columns.Count)
                .Where(i => data.Columns[i] != label && data.Kinds[i] == ColumnKind.Numeric).ToArray();
            if (numeric.Length != width)
            {
                throw new StepFailedException($"The model's input '{name}' takes {width} features; the data has {numeric.Length} numeric columns besides '{label}'.", retryable: false);
            }

            var matrix = new DenseTensor<float>([count, width]);
            for (var r = 0; r < count; r++)
            {
                var row = data.Rows[start + r];
                for (var c = 0; c < width; c++)
                {
                    matrix[r, c] = TabularData.ParseFloat(row[numeric[c]]);
                }
            }

            return NamedOnnxValue.CreateFromTensor(name, matrix);
        }

        if (column < 0 && (name == label || name == "Label"))
        {
            // ML.NET exports keep the training label as an input; its value does not change the prediction.
            return Column(name, meta.ElementDataType, new string?[count], count, width);
        }

        throw new StepFailedException($"The model's input '{name}' ({meta.ElementDataType}, width {width}) has no matching column in the data (columns: {string.Join(", ", data.Columns)}).", retryable: false);
    }

    private static NamedOnnxValue Column(string name, TensorElementType type, string?[] values, int count, int width = 1)
    {
        int[] shape = [count, width];
        switch (type)
        {
            case TensorElementType.Float:
                return NamedOnnxValue.CreateFromTensor(name, new DenseTensor<float>(Repeat(values.Select(v => v is null ? 0f : Parse(name, v)), width), shape));
            case TensorElementType.Double:
                return NamedOnnxValue.CreateFromTensor(name, new DenseTensor<double>(Repeat(values.Select(v => v is null ? 0d : Parse(name, v)), width), shape));
            case TensorElementType.Int64:
                return NamedOnnxValue.CreateFromTensor(name, new DenseTensor<long>(Repeat(values.Select(v => v is null ? 0L : (long)Parse(name, v)), width), shape));
            case TensorElementType.Int32:
                return NamedOnnxValue.CreateFromTensor(name, new DenseTensor<int>(Repeat(values.Select(v => v is null ? 0 : (int)Parse(name, v)), width), shape));
            case TensorElementType.Bool:
                return NamedOnnxValue.CreateFromTensor(name, new DenseTensor<bool>(Repeat(values.Select(v => LocalTrainingBackend.ParseBinary(v) ?? false), width), shape));
            case TensorElementType.String:
                return NamedOnnxValue.CreateFromTensor(name, new DenseTensor<string>(Repeat(values.Select(v => v ?? string.Empty), width), shape));
            default:
                throw new StepFailedException($"The model's input '{name}' has the element type {type}, which evaluation does not feed.", retryable: false);
        }
    }

    private static T[] Repeat<T>(IEnumerable<T> values, int width) =>
        width == 1 ? values.ToArray() : values.SelectMany(v => Enumerable.Repeat(v, width)).ToArray();

    private static float Parse(string column, string value) =>
        float.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            ? number
            : throw new StepFailedException($"The column '{column}' holds '{value}', which is not a number as the model's input expects.", retryable: false);

    /// <summary>The first value of each row of a numeric output ([N] or [N, k]).</summary>
    private static IEnumerable<float> FirstColumn(DisposableNamedOnnxValue output, int count)
    {
        if (output.Value is Tensor<float> floats)
        {
            var stride = floats.Length / count;
            var buffer = floats.ToArray();
            return Enumerable.Range(0, count).Select(i => buffer[i * stride]);
        }

        if (output.Value is Tensor<double> doubles)
        {
            var stride = doubles.Length / count;
            var buffer = doubles.ToArray();
            return Enumerable.Range(0, count).Select(i => (float)buffer[i * stride]);
        }

        throw new StepFailedException($"The model's output '{output.Name}' is not a float tensor.", retryable: false);
    }

    /// <summary>Each row of an [N, k] float output; null when the output is no such tensor (a map sequence, for instance).</summary>
    private static List<float[]>? Rows(DisposableNamedOnnxValue output, int count)
    {
        if (output.Value is not Tensor<float> floats || floats.Length % count != 0 || floats.Length / count < 2)
        {
            return null;
        }

        var width = (int)(floats.Length / count);
        var buffer = floats.ToArray();
        return Enumerable.Range(0, count).Select(i => buffer.AsSpan(i * width, width).ToArray()).ToList();
    }

    private static IEnumerable<string> Labels(DisposableNamedOnnxValue output, int count) => output.Value switch
    {
        Tensor<string> s => s.ToArray(),
        Tensor<long> l => l.ToArray().Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Tensor<int> i => i.ToArray().Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Tensor<uint> u => u.ToArray().Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Tensor<bool> b => b.ToArray().Select(v => v ? "true" : "false"),
        _ => throw new StepFailedException($"The model's output '{output.Name}' holds no labels.", retryable: false),
    };
}
