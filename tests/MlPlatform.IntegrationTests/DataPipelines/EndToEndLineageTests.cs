using System.Net;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.IntegrationTests.Infrastructure;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.DataPipelines.DataApi;

namespace MlPlatform.IntegrationTests.DataPipelines;

/// <summary>
/// The lineage graph across modules: the registry's and the serving module's answers come through
/// their contracts. Those modules are written elsewhere, so this host registers small stand-ins
/// that answer as the contracts define (a model version trained by a run on a dataset version, an
/// endpoint serving it).
/// </summary>
public sealed class EndToEndLineageTests
{
    private sealed class Registry : IModelLineageQuery, IModelVersionServing
    {
        public static readonly Guid ModelId = Guid.NewGuid();

        public ModelVersionLineageRef? Version { get; set; }

        public Task<ModelVersionLineageRef?> GetAsync(Guid projectId, string model, int version, CancellationToken cancellationToken = default) =>
            Task.FromResult(Version is { } v && v.Model == model && v.Version == version ? v : null);

        public Task<IReadOnlyList<ModelVersionLineageRef>> FindByRunAsync(Guid projectId, string workflowRun, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<ModelVersionLineageRef>>(Version is { } v && v.WorkflowRun == workflowRun ? [v] : []);

        public Task<IReadOnlyList<ModelVersionLineageRef>> FindByDatasetAsync(Guid projectId, string datasetVersion, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<ModelVersionLineageRef>>(Version is { } v && v.Datasets.Contains(datasetVersion) ? [v] : []);

        public Task<IReadOnlyList<ServingEndpointRef>> FindServingAsync(Guid projectId, Guid modelId, int version, CancellationToken cancellationToken = default) =>
            Task.FromResult<IReadOnlyList<ServingEndpointRef>>(Version is { } v && v.ModelId == modelId && v.Version == version ? [new ServingEndpointRef(Guid.NewGuid(), "churn-prod", "main", false)] : []);
    }

    [Theory]
    [InlineData(DatabaseProvider.Sqlite)]
    [InlineData(DatabaseProvider.PostgreSql)]
    public async Task Given_model_trained_on_a_derived_dataset_and_served_When_lineage_of_the_endpoint_is_asked_Then_it_leads_back_to_the_uploaded_file(DatabaseProvider provider)
    {
        var registry = new Registry();
        using var receiver = new OpenLineageReceiver();
        await using var factory = await PlatformFactory.CreateAsync(provider, DataHostsFixture.Settings(receiver), services =>
        {
            services.AddSingleton<IModelLineageQuery>(registry);
            services.AddSingleton<IModelVersionServing>(registry);
        });
        using var api = await WorkflowTestAccounts.CreateAsync(factory);
        var (raw, uploaded) = await DatasetWith(api.Maintainer, api.Project, QualityTests.Planted, "raw");
        var train = NewName("train");
        var derived = await Json(await Transform(api.Maintainer, api.Project, new { input = $"{raw}@1", steps = new object[] { new { op = "filter", where = "age IS NOT NULL" } }, output = train }), HttpStatusCode.Created);
        var trainingRun = Guid.NewGuid();
        registry.Version = new ModelVersionLineageRef(Registry.ModelId, "churn", 1, "approved", trainingRun.ToString(), "train", [$"{train}@1"]);

        var graph = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?endpoint=churn-prod&direction=upstream&depth=10"), HttpStatusCode.OK);

        var nodes = graph.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ToList();
        nodes.ShouldContain("endpoint:churn-prod");
        nodes.ShouldContain("model:churn@1");
        nodes.ShouldContain($"run:{trainingRun}");
        nodes.ShouldContain($"dataset:{train}@1");
        nodes.ShouldContain($"run:{derived.GetProperty("producedByRun").GetString()}");
        nodes.ShouldContain($"dataset:{raw}@1");
        nodes.ShouldContain($"file:sha256:{uploaded.GetProperty("sha256").GetString()}");
        var edges = graph.GetProperty("edges").EnumerateArray().Select(e => $"{e.GetProperty("from").GetString()}->{e.GetProperty("to").GetString()}").ToList();
        edges.ShouldContain("model:churn@1->endpoint:churn-prod");
        edges.ShouldContain($"dataset:{train}@1->model:churn@1");

        var downstream = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?dataset={raw}@1&direction=downstream&depth=10"), HttpStatusCode.OK);
        downstream.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ShouldContain("endpoint:churn-prod");
        var model = await Json(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?model=churn&version=1&direction=both"), HttpStatusCode.OK);
        model.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("id").GetString()).ShouldContain($"dataset:{raw}@1");
        await Problem(await api.Viewer.GetAsync($"/api/v1/projects/{api.Project}/lineage?endpoint=nowhere"), HttpStatusCode.NotFound);
    }
}
