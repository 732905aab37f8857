using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>What ONNX Runtime reads from a model file: its signature and its metadata, as JSON.</summary>
public sealed record OnnxDescription(JsonObject Signature, JsonObject Metadata);

/// <summary>
/// Loads a model file with ONNX Runtime. Loading is the check: a file ORT cannot load cannot be
/// served later either, so it is refused at upload (422) instead of at deployment.
/// </summary>
public static class OnnxInspector
{
    public static OnnxDescription Inspect(string path)
    {
        InferenceSession session;
        try
        {
            using var options = new SessionOptions { GraphOptimizationLevel = GraphOptimizationLevel.ORT_DISABLE_ALL };
            session = new InferenceSession(path, options);
        }
        catch (OnnxRuntimeException ex)
        {
            // ORT names the file by its path: the server's temporary folder is none of the caller's business.
            var reason = FirstLine(ex.Message).Replace(Path.GetDirectoryName(Path.GetFullPath(path)) + Path.DirectorySeparatorChar, string.Empty, StringComparison.Ordinal);
            throw new UnprocessableException($"The file is not an ONNX model that ONNX Runtime can load: {reason}", ex);
        }

        using (session)
        {
            var signature = new JsonObject
            {
                ["inputs"] = Tensors(session.InputMetadata),
                ["outputs"] = Tensors(session.OutputMetadata),
            };
            var meta = session.ModelMetadata;
            var custom = new JsonObject();
            foreach (var (key, value) in meta.CustomMetadataMap.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                custom[key] = value;
            }

            var metadata = new JsonObject
            {
                ["producerName"] = meta.ProducerName,
                ["graphName"] = meta.GraphName,
                ["graphDescription"] = meta.GraphDescription,
                ["domain"] = meta.Domain,
                ["description"] = meta.Description,
                ["modelVersion"] = meta.Version,
                ["custom"] = custom,
            };
            return new OnnxDescription(signature, metadata);
        }
    }

    private static JsonArray Tensors(IReadOnlyDictionary<string, NodeMetadata> nodes)
    {
        var array = new JsonArray();
        foreach (var (name, node) in nodes)
        {
            var tensor = new JsonObject { ["name"] = name, ["valueType"] = node.OnnxValueType.ToString().Replace("ONNX_TYPE_", string.Empty, StringComparison.Ordinal).ToLowerInvariant() };
            if (node.IsTensor)
            {
                tensor["elementType"] = node.ElementDataType.ToString().ToLowerInvariant();
                var shape = new JsonArray();
                var symbolic = node.SymbolicDimensions;
                for (var i = 0; i < node.Dimensions.Length; i++)
                {
                    // A named dimension (a batch "N") is kept by name; an unnamed unknown one is -1.
                    var symbol = i < symbolic.Length ? symbolic[i] : null;
                    shape.Add(string.IsNullOrEmpty(symbol) ? JsonValue.Create(node.Dimensions[i]) : JsonValue.Create(symbol));
                }

                tensor["shape"] = shape;
            }

            array.Add(tensor);
        }

        return array;
    }

    private static string FirstLine(string message)
    {
        var line = message.Split('\n')[0].Trim();
        return line.Length > 300 ? line[..300] + "…" : line;
    }
}
