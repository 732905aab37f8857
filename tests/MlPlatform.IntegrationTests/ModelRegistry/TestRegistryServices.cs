using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.Tests.Onnx;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.IntegrationTests.ModelRegistry;

/// <summary>Stands in for Predictions: the endpoints a test says serve a version.</summary>
public sealed class TestModelServing : IModelVersionServing
{
    private readonly ConcurrentDictionary<(Guid ModelId, int Version), ServingEndpointRef[]> _served = new();

    public void Serve(Guid modelId, int version, params ServingEndpointRef[] endpoints) => _served[(modelId, version)] = endpoints;

    public void Stop(Guid modelId, int version) => _served.TryRemove((modelId, version), out _);

    public Task<IReadOnlyList<ServingEndpointRef>> FindServingAsync(Guid projectId, Guid modelId, int version, CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<ServingEndpointRef>>(_served.TryGetValue((modelId, version), out var endpoints) ? endpoints : []);
}

/// <summary>
/// Stands in for model.train: writes an ONNX model (or, with <c>corrupt</c>, bytes that are not one)
/// to <c>runs/{runId}/{stepId}/model.onnx</c> and outputs its key as <c>modelKey</c>.
/// </summary>
public sealed class WriteOnnxStep : StepType
{
    public override string Name => "test.write_onnx";

    public override string Description => "Writes a small ONNX model under the run's folder.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("corrupt", ParameterType.Bool, Default: JsonValue.Create(false), Description: "Write bytes ONNX Runtime cannot load."),
    ];

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var key = $"runs/{context.RunId}/{context.StepId}/model.onnx";
        var bytes = context.Parameters["corrupt"]?.GetValue<bool>() == true ? "not a model"u8.ToArray() : RegistryApi.Model(0.5f);
        using var content = new MemoryStream(bytes);
        await context.Artifacts.PutAsync(key, content, "application/octet-stream", cancellationToken);
        return StepResult.Succeeded(new Dictionary<string, JsonNode?> { ["modelKey"] = key, ["accuracy"] = 0.93 });
    }
}
