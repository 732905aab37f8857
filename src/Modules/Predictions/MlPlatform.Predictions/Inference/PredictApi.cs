using System.Text.Json;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.Predictions.Inference;

/// <summary>
/// The simple JSON API: <c>{"instances": [{feature: value, ...}]}</c>. Each instance maps onto the
/// model's inputs by name (a scalar or an array per input, one row each); a model with one vector
/// input also takes an array per instance, or named features when its ONNX metadata lists them
/// (<c>feature_names</c>, comma-separated). A missing <c>Label</c> input (ML.NET exports one) is fed zeros.
/// </summary>
public static class PredictApi
{
    public const string LabelInput = "Label";

    public static IReadOnlyList<TensorData> ToInputs(byte[] body, ModelSignature signature, IReadOnlyList<string>? featureNames)
    {
        using var document = V2Codec.ParseDocument(body);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("instances", out var instances) || instances.ValueKind != JsonValueKind.Array || instances.GetArrayLength() == 0)
        {
            throw new BadRequestException("Send {\"instances\": [{\"feature\": value, ...}, ...]} with at least one instance.");
        }

        var rows = instances.GetArrayLength();
        var inputs = new List<TensorData>();
        foreach (var spec in signature.Inputs)
        {
            if (spec.Shape.Length == 0 || (spec.Shape[0] >= 0 && spec.Shape[0] != rows))
            {
                throw new BadRequestException($"Input '{spec.Name}' does not take rows (shape [{TensorBinding.Describe(spec.Shape)}]); use the V2 API for this model.");
            }

            var rowSize = 1L;
            for (var i = 1; i < spec.Shape.Length; i++)
            {
                rowSize *= spec.Shape[i] < 0 ? 1 : spec.Shape[i];
            }

            var data = Datatypes.Allocate(spec.Datatype, (int)(rowSize * rows));
            var r = 0;
            var filled = false;
            foreach (var instance in instances.EnumerateArray())
            {
                filled |= FillRow(instance, spec, signature, featureNames, data, r++, (int)rowSize);
            }

            if (!filled && spec.Name != LabelInput)
            {
                throw new BadRequestException($"Input '{spec.Name}' is missing from the instances.");
            }

            var shape = (long[])spec.Shape.Clone();
            shape[0] = rows;
            for (var i = 1; i < shape.Length; i++)
            {
                shape[i] = shape[i] < 0 ? 1 : shape[i];
            }

            inputs.Add(new TensorData(spec.Name, spec.Datatype, shape, data));
        }

        foreach (var instance in instances.EnumerateArray())
        {
            if (instance.ValueKind != JsonValueKind.Object)
            {
                continue;
            }

            foreach (var property in instance.EnumerateObject())
            {
                if (!signature.Inputs.Any(i => string.Equals(i.Name, property.Name, StringComparison.OrdinalIgnoreCase))
                    && (featureNames is null || !featureNames.Contains(property.Name, StringComparer.OrdinalIgnoreCase)))
                {
                    throw new BadRequestException($"Unknown feature '{property.Name}'; the model takes: {string.Join(", ", featureNames ?? signature.Inputs.Select(i => i.Name).ToList())}.");
                }
            }
        }

        return inputs;
    }

    private static bool FillRow(JsonElement instance, TensorSpec spec, ModelSignature signature, IReadOnlyList<string>? featureNames, Array data, int row, int rowSize)
    {
        JsonElement value;
        if (instance.ValueKind == JsonValueKind.Array && signature.Inputs.Count(i => i.Name != LabelInput) == 1 && spec.Name != LabelInput)
        {
            value = instance;
        }
        else if (instance.ValueKind == JsonValueKind.Object && TryGetFeature(instance, spec.Name, out var named))
        {
            value = named;
        }
        else if (instance.ValueKind == JsonValueKind.Object && featureNames is not null && spec.Name != LabelInput && signature.Inputs.Count(i => i.Name != LabelInput) == 1)
        {
            if (featureNames.Count != rowSize)
            {
                throw new BadRequestException($"The model lists {featureNames.Count} feature names for an input of {rowSize} values.");
            }

            for (var i = 0; i < featureNames.Count; i++)
            {
                if (!TryGetFeature(instance, featureNames[i], out var feature))
                {
                    throw new BadRequestException($"Instance {row} lacks the feature '{featureNames[i]}'.");
                }

                Set(data, row * rowSize + i, feature, spec, row);
            }

            return true;
        }
        else if (instance.ValueKind is not (JsonValueKind.Object or JsonValueKind.Array))
        {
            throw new BadRequestException($"Instance {row} must be an object of features (or an array for a single-input model).");
        }
        else
        {
            return false;
        }

        if (value.ValueKind == JsonValueKind.Array)
        {
            if (value.GetArrayLength() != rowSize)
            {
                throw new BadRequestException($"Instance {row}: '{spec.Name}' has {value.GetArrayLength()} values; the model expects {rowSize}.");
            }

            var i = 0;
            foreach (var x in value.EnumerateArray())
            {
                Set(data, row * rowSize + i++, x, spec, row);
            }
        }
        else
        {
            if (rowSize != 1)
            {
                throw new BadRequestException($"Instance {row}: '{spec.Name}' needs {rowSize} values, not one.");
            }

            Set(data, row, value, spec, row);
        }

        return true;
    }

    /// <summary>By exact name, else ignoring case (JSON clients often camel-case "Features").</summary>
    private static bool TryGetFeature(JsonElement instance, string name, out JsonElement value)
    {
        if (instance.TryGetProperty(name, out value))
        {
            return true;
        }

        foreach (var property in instance.EnumerateObject())
        {
            if (string.Equals(property.Name, name, StringComparison.OrdinalIgnoreCase))
            {
                value = property.Value;
                return true;
            }
        }

        return false;
    }

    private static void Set(Array data, int index, JsonElement value, TensorSpec spec, int row)
    {
        try
        {
            switch (data)
            {
                case float[] f: f[index] = value.ValueKind == JsonValueKind.Number ? value.GetSingle() : throw new FormatException(); break;
                case double[] d: d[index] = value.ValueKind == JsonValueKind.Number ? value.GetDouble() : throw new FormatException(); break;
                case bool[] b: b[index] = value.ValueKind is JsonValueKind.Number ? value.GetInt32() switch { 0 => false, 1 => true, _ => throw new FormatException() } : value.GetBoolean(); break;
                case string[] s: s[index] = value.GetString() ?? throw new FormatException(); break;
                default:
                    if (!TensorValues.TrySet(data, index, value))
                    {
                        throw new FormatException();
                    }

                    break;
            }
        }
        catch (Exception ex) when (ex is FormatException or InvalidOperationException)
        {
            var text = value.GetRawText();
            throw new BadRequestException($"Instance {row}: '{spec.Name}' holds {(text.Length > 40 ? text[..40] + "…" : text)}, not a {spec.Datatype} value.");
        }
    }

    /// <summary>One object per row: each output's row as a scalar (one value) or an array.</summary>
    public static void Write(Utf8JsonWriter writer, string endpoint, VariantRuntime variant, IReadOnlyList<TensorData> outputs, long rows)
    {
        writer.WriteStartObject();
        writer.WriteString("endpoint", endpoint);
        writer.WriteString("model", variant.Model);
        writer.WriteNumber("version", variant.Version);
        writer.WriteString("variant", variant.Name);
        writer.WriteStartArray("predictions");
        for (var r = 0; r < rows; r++)
        {
            writer.WriteStartObject();
            foreach (var output in outputs)
            {
                if (output.Shape.Length == 0 || output.Shape[0] != rows)
                {
                    continue;
                }

                var rowSize = (int)(output.Data.Length / rows);
                writer.WritePropertyName(output.Name);
                if (rowSize == 1)
                {
                    WriteValue(writer, output.Data, r);
                }
                else
                {
                    writer.WriteStartArray();
                    for (var i = 0; i < rowSize; i++)
                    {
                        WriteValue(writer, output.Data, r * rowSize + i);
                    }

                    writer.WriteEndArray();
                }
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter writer, Array data, int i)
    {
        switch (data)
        {
            case float[] f when float.IsFinite(f[i]): writer.WriteNumberValue(f[i]); break;
            case double[] d when double.IsFinite(d[i]): writer.WriteNumberValue(d[i]); break;
            case float[] or double[]: writer.WriteNullValue(); break; // JSON has no NaN.
            default: TensorValues.Write(writer, data, i); break;
        }
    }
}
