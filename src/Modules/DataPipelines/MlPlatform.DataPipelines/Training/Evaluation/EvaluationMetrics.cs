namespace MlPlatform.DataPipelines.Training.Evaluation;

/// <summary>The evaluation metrics, computed from labels and predictions (the usual definitions, positive class = true).</summary>
internal static class EvaluationMetrics
{
    private const double Epsilon = 1e-15;

    public static Dictionary<string, double> Binary(bool[] actual, float[] probability)
    {
        int tp = 0, fp = 0, tn = 0, fn = 0;
        double logLoss = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var p = Math.Clamp((double)probability[i], Epsilon, 1 - Epsilon);
            var predicted = probability[i] >= 0.5f;
            if (predicted && actual[i])
            {
                tp++;
            }
            else if (predicted)
            {
                fp++;
            }
            else if (actual[i])
            {
                fn++;
            }
            else
            {
                tn++;
            }

            logLoss -= actual[i] ? Math.Log(p) : Math.Log(1 - p);
        }

        var precision = tp + fp == 0 ? 0 : (double)tp / (tp + fp);
        var recall = tp + fn == 0 ? 0 : (double)tp / (tp + fn);
        var metrics = new Dictionary<string, double>
        {
            ["accuracy"] = (double)(tp + tn) / actual.Length,
            ["precision"] = precision,
            ["recall"] = recall,
            ["f1"] = precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall),
            ["logLoss"] = logLoss / actual.Length,
        };
        if (Auc(actual, probability) is { } auc)
        {
            metrics["auc"] = auc;
        }

        return metrics;
    }

    /// <summary>ROC AUC as the Mann-Whitney statistic with tied scores sharing their average rank; null with one class only.</summary>
    public static double? Auc(bool[] actual, float[] score)
    {
        var positives = actual.Count(a => a);
        var negatives = actual.Length - positives;
        if (positives == 0 || negatives == 0)
        {
            return null;
        }

        var order = Enumerable.Range(0, actual.Length).OrderBy(i => score[i]).ToArray();
        double rankSum = 0;
        for (var i = 0; i < order.Length;)
        {
            var j = i;
            while (j + 1 < order.Length && score[order[j + 1]] == score[order[i]])
            {
                j++;
            }

            var rank = (i + j) / 2.0 + 1;
            for (var k = i; k <= j; k++)
            {
                if (actual[order[k]])
                {
                    rankSum += rank;
                }
            }

            i = j + 1;
        }

        return (rankSum - positives * (positives + 1) / 2.0) / ((double)positives * negatives);
    }

    /// <summary>Accuracy, and precision, recall and F1 macro-averaged over the classes seen.</summary>
    public static Dictionary<string, double> Multiclass(string[] actual, string[] predicted)
    {
        var classes = actual.Concat(predicted).Distinct(StringComparer.Ordinal).ToList();
        double precisionSum = 0, recallSum = 0, f1Sum = 0;
        foreach (var c in classes)
        {
            var tp = actual.Where((a, i) => a == c && predicted[i] == c).Count();
            var predictedCount = predicted.Count(p => p == c);
            var actualCount = actual.Count(a => a == c);
            var precision = predictedCount == 0 ? 0 : (double)tp / predictedCount;
            var recall = actualCount == 0 ? 0 : (double)tp / actualCount;
            precisionSum += precision;
            recallSum += recall;
            f1Sum += precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall);
        }

        return new Dictionary<string, double>
        {
            ["accuracy"] = (double)actual.Where((a, i) => a == predicted[i]).Count() / actual.Length,
            ["precision"] = precisionSum / classes.Count,
            ["recall"] = recallSum / classes.Count,
            ["f1"] = f1Sum / classes.Count,
        };
    }

    /// <summary>
    /// Which class each column of a multiclass score vector stands for, read from the model itself:
    /// on every row whose highest score is unique, that column is the class the model predicted.
    /// One class never predicted may take the one column left; null when the columns stay ambiguous.
    /// </summary>
    public static string[]? ClassOrder(string[] predicted, float[][] scores, IEnumerable<string> actual)
    {
        var width = scores.Length > 0 ? scores[0].Length : 0;
        if (width < 2 || scores.Any(r => r.Length != width))
        {
            return null;
        }

        var classes = new string?[width];
        for (var i = 0; i < scores.Length; i++)
        {
            var best = ArgMax(scores[i]);
            if (best < 0)
            {
                continue;
            }

            if (classes[best] is null && !classes.Contains(predicted[i], StringComparer.Ordinal))
            {
                classes[best] = predicted[i];
            }
            else if (classes[best] != predicted[i])
            {
                return null; // The label output is not the argmax of this vector: no order can be trusted.
            }
        }

        var open = Enumerable.Range(0, width).Where(i => classes[i] is null).ToList();
        var unseen = actual.Distinct(StringComparer.Ordinal).Where(c => !classes.Contains(c, StringComparer.Ordinal)).ToList();
        if (open.Count == 1 && unseen.Count == 1)
        {
            classes[open[0]] = unseen[0];
        }

        return classes.All(c => c is not null) ? classes.Select(c => c!).ToArray() : null;
    }

    /// <summary>The column of the highest value; -1 when it is shared or a value is not finite.</summary>
    private static int ArgMax(float[] row)
    {
        var best = -1;
        var tie = false;
        for (var j = 0; j < row.Length; j++)
        {
            if (!float.IsFinite(row[j]))
            {
                return -1;
            }

            if (best < 0 || row[j] > row[best])
            {
                best = j;
                tie = false;
            }
            else if (row[j] == row[best])
            {
                tie = true;
            }
        }

        return tie ? -1 : best;
    }

    /// <summary>
    /// Macro one-vs-rest ROC AUC (each class whose column is known and that has positives and
    /// negatives in the data, scored by its own column, averaged unweighted) and multiclass log loss:
    /// the mean of −ln p(true class), p taken from the row normalized to sum 1 and clipped to
    /// [1e-15, 1 − 1e-15] (a class the model does not know counts as 1e-15). Log loss is left out when
    /// a score is negative, since such a vector is no probability distribution.
    /// </summary>
    public static void AddProbabilistic(Dictionary<string, double> metrics, string[] actual, float[][] scores, string[] classes)
    {
        double aucSum = 0;
        var aucCount = 0;
        for (var j = 0; j < classes.Length; j++)
        {
            var column = scores.Select(r => r[j]).ToArray();
            if (Auc(actual.Select(a => a == classes[j]).ToArray(), column) is { } auc)
            {
                aucSum += auc;
                aucCount++;
            }
        }

        if (aucCount > 0)
        {
            metrics["auc"] = aucSum / aucCount;
        }

        if (scores.Any(r => r.Any(v => v < 0 || !float.IsFinite(v))))
        {
            return;
        }

        double logLoss = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var sum = scores[i].Sum(v => (double)v);
            var j = Array.IndexOf(classes, actual[i]);
            var p = j < 0 || sum <= 0 ? 0 : scores[i][j] / sum;
            logLoss -= Math.Log(Math.Clamp(p, Epsilon, 1 - Epsilon));
        }

        metrics["logLoss"] = logLoss / actual.Length;
    }

    public static Dictionary<string, double> Regression(double[] actual, float[] predicted)
    {
        var mean = actual.Average();
        double squared = 0, absolute = 0, total = 0;
        for (var i = 0; i < actual.Length; i++)
        {
            var error = actual[i] - predicted[i];
            squared += error * error;
            absolute += Math.Abs(error);
            total += (actual[i] - mean) * (actual[i] - mean);
        }

        var metrics = new Dictionary<string, double>
        {
            ["rmse"] = Math.Sqrt(squared / actual.Length),
            ["mae"] = absolute / actual.Length,
        };
        if (total > 0)
        {
            metrics["r2"] = 1 - squared / total;
        }

        return metrics;
    }
}
