using System.Security.Claims;
using System.Text.Json;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.DataPipelines.Lineage;

/// <summary>A node of the lineage graph: <c>file</c> (content hash), <c>dataset</c> (version), <c>run</c>, <c>model</c> (version) or <c>endpoint</c>.</summary>
public sealed record LineageNode(string Id, string Kind, string Name, IReadOnlyDictionary<string, string?> Details);

/// <summary>Data flows from <see cref="From"/> to <see cref="To"/>.</summary>
public sealed record LineageLink(string From, string To);

public sealed record LineageGraphDto(string Root, string Direction, IReadOnlyList<LineageNode> Nodes, IReadOnlyList<LineageLink> Edges);

/// <summary>
/// Upstream and/or downstream of one object, breadth first up to <see cref="Depth"/> hops. Exactly one
/// of dataset ("name@version"), run (id), model + version, or endpoint names the start.
/// </summary>
public sealed record GetLineage(ClaimsPrincipal Caller, string Project, string? Dataset, Guid? Run, string? Model, int? Version, string? Endpoint, string Direction, int Depth)
    : IQuery<LineageGraphDto>;

public sealed class GetLineageValidator : AbstractValidator<GetLineage>
{
    public GetLineageValidator()
    {
        RuleFor(q => q.Direction).Must(d => d is "upstream" or "downstream" or "both").WithMessage("direction is upstream, downstream or both.");
        RuleFor(q => q.Depth).InclusiveBetween(1, 20);
        RuleFor(q => q).Must(q => new object?[] { q.Dataset, q.Run, q.Model, q.Endpoint }.Count(x => x is not null) == 1)
            .WithName("query").WithMessage("Name exactly one start: dataset=name@version, run=id, model=name&version=N, or endpoint=name.");
        RuleFor(q => q.Version).NotNull().When(q => q.Model is not null).WithMessage("A model start needs its version: model=name&version=N.");
    }
}

/// <summary>
/// Walks the graph: dataset versions and runs from this module's edges; model versions through
/// the registry's <see cref="IModelLineageQuery"/>; endpoints through <see cref="IModelVersionServing"/>.
/// Both are optional: a host without them answers the data part only.
/// </summary>
public sealed class GetLineageHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer, IServiceProvider services) : IQueryHandler<GetLineage, LineageGraphDto>
{
    public async ValueTask<LineageGraphDto> Handle(GetLineage query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var walker = new Walker(db, access.ProjectId, services.GetService<IModelLineageQuery>(), services.GetService<IModelVersionServing>());
        string root;
        if (query.Dataset is { } reference)
        {
            var (name, number) = DatasetRules.ParseRef(reference);
            if (number is null)
            {
                throw new BadRequestException("Name the dataset version: dataset=name@version.");
            }

            root = await walker.DatasetNodeAsync(name, number.Value, cancellationToken) ?? throw new NotFoundException("Dataset version", reference);
        }
        else if (query.Run is { } run)
        {
            root = await walker.RunNodeAsync(run, cancellationToken) ?? throw new NotFoundException("Run", run.ToString());
        }
        else if (query.Model is { } model)
        {
            root = await walker.ModelNodeAsync(model, query.Version!.Value, cancellationToken) ?? throw new NotFoundException("Model version", $"{model}/{query.Version}");
        }
        else
        {
            root = await walker.EndpointNodeAsync(query.Endpoint!, cancellationToken) ?? throw new NotFoundException("Endpoint", query.Endpoint!);
        }

        await walker.WalkAsync(root, query.Direction, query.Depth, cancellationToken);
        return new LineageGraphDto(root, query.Direction, walker.Nodes.Values.ToList(), walker.Edges.ToList());
    }

    private sealed class Walker(DataPipelinesDbContext db, Guid projectId, IModelLineageQuery? models, IModelVersionServing? serving)
    {
        public Dictionary<string, LineageNode> Nodes { get; } = [];

        public HashSet<LineageLink> Edges { get; } = [];

        private readonly Dictionary<string, DatasetVersion> _versions = [];
        private readonly Dictionary<string, ModelVersionLineageRef> _models = [];

        public async Task<string?> DatasetNodeAsync(string name, int number, CancellationToken ct)
        {
            var dataset = await db.Datasets.AsNoTracking().SingleOrDefaultAsync(d => d.ProjectId == projectId && d.Name == name, ct);
            var version = dataset is null ? null : await db.DatasetVersions.AsNoTracking().SingleOrDefaultAsync(v => v.DatasetId == dataset.Id && v.Version == number, ct);
            return dataset is null || version is null ? null : AddDataset(dataset, version);
        }

        private string AddDataset(Dataset dataset, DatasetVersion version)
        {
            var id = $"dataset:{dataset.Name}@{version.Version}";
            _versions[id] = version;
            Nodes.TryAdd(id, new LineageNode(id, "dataset", $"{dataset.Name}@{version.Version}", new Dictionary<string, string?>
            {
                ["sha256"] = version.Sha256,
                ["artifactUri"] = version.ArtifactUri,
                ["rows"] = version.Rows.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["producedByRun"] = version.ProducedByRun?.ToString(),
            }));
            return id;
        }

        public async Task<string?> RunNodeAsync(Guid run, CancellationToken ct)
        {
            var known = await db.LineageEdges.AnyAsync(e => e.ProjectId == projectId && e.RunId == run, ct)
                || (models is not null && (await models.FindByRunAsync(projectId, run.ToString(), ct)).Count > 0);
            return known ? AddRun(run) : null;
        }

        private string AddRun(Guid run)
        {
            var id = $"run:{run}";
            Nodes.TryAdd(id, new LineageNode(id, "run", run.ToString(), new Dictionary<string, string?>()));
            return id;
        }

        public async Task<string?> ModelNodeAsync(string model, int version, CancellationToken ct)
        {
            var found = models is null ? null : await models.GetAsync(projectId, model, version, ct);
            return found is null ? null : AddModel(found);
        }

        private string AddModel(ModelVersionLineageRef model)
        {
            var id = $"model:{model.Model}@{model.Version}";
            _models[id] = model;
            Nodes.TryAdd(id, new LineageNode(id, "model", $"{model.Model}@{model.Version}", new Dictionary<string, string?>
            {
                ["status"] = model.Status,
                ["workflowRun"] = model.WorkflowRun,
                ["step"] = model.Step,
            }));
            return id;
        }

        public async Task<string?> EndpointNodeAsync(string endpoint, CancellationToken ct)
        {
            if (serving is null || models is null)
            {
                return null;
            }

            // Endpoints are found from the model versions the data lineage knows: every dataset version's models.
            var found = false;
            var versions = await db.DatasetVersions.AsNoTracking().Where(v => v.ProjectId == projectId).Join(db.Datasets, v => v.DatasetId, d => d.Id, (v, d) => new { d.Name, v.Version }).ToListAsync(ct);
            foreach (var reference in versions.Select(v => $"{v.Name}@{v.Version}"))
            {
                foreach (var model in await models.FindByDatasetAsync(projectId, reference, ct))
                {
                    var serves = await serving.FindServingAsync(projectId, model.ModelId, model.Version, ct);
                    if (serves.Any(s => s.Endpoint == endpoint))
                    {
                        found = true;
                    }
                }
            }

            return found ? AddEndpoint(endpoint) : null;
        }

        private string AddEndpoint(string endpoint)
        {
            var id = $"endpoint:{endpoint}";
            Nodes.TryAdd(id, new LineageNode(id, "endpoint", endpoint, new Dictionary<string, string?>()));
            return id;
        }

        private string AddFile(string sha256)
        {
            var id = $"file:sha256:{sha256}";
            Nodes.TryAdd(id, new LineageNode(id, "file", sha256, new Dictionary<string, string?> { ["sha256"] = sha256 }));
            return id;
        }

        public async Task WalkAsync(string root, string direction, int depth, CancellationToken ct)
        {
            foreach (var up in new[] { true, false })
            {
                if ((up && direction == "downstream") || (!up && direction == "upstream"))
                {
                    continue;
                }

                var frontier = new List<string> { root };
                var seen = new HashSet<string> { root };
                for (var hop = 0; hop < depth && frontier.Count > 0; hop++)
                {
                    var next = new List<string>();
                    foreach (var node in frontier)
                    {
                        foreach (var neighbour in up ? await UpstreamAsync(node, ct) : await DownstreamAsync(node, ct))
                        {
                            if (up)
                            {
                                Edges.Add(new LineageLink(neighbour, node));
                            }
                            else
                            {
                                Edges.Add(new LineageLink(node, neighbour));
                            }

                            if (seen.Add(neighbour))
                            {
                                next.Add(neighbour);
                            }
                        }
                    }

                    frontier = next;
                }
            }
        }

        private async Task<List<string>> UpstreamAsync(string node, CancellationToken ct)
        {
            var result = new List<string>();
            var (kind, key) = Split(node);
            switch (kind)
            {
                case "dataset":
                {
                    var version = _versions[node];
                    result.Add(AddFile(version.Sha256));
                    var runs = await db.LineageEdges.AsNoTracking().Where(e => e.DatasetVersionId == version.Id && e.Direction == EdgeDirection.Output).Select(e => e.RunId).Distinct().ToListAsync(ct);
                    result.AddRange(runs.Select(AddRun));
                    break;
                }

                case "run":
                    result.AddRange(await RunDatasetsAsync(Guid.Parse(key), EdgeDirection.Input, ct));
                    break;
                case "model":
                {
                    var model = _models[node];
                    foreach (var reference in model.Datasets)
                    {
                        var at = reference.LastIndexOf('@');
                        if (at > 0 && int.TryParse(reference[(at + 1)..], out var n) && await DatasetNodeAsync(reference[..at], n, ct) is { } dataset)
                        {
                            result.Add(dataset);
                        }
                    }

                    if (Guid.TryParse(model.WorkflowRun, out var run))
                    {
                        result.Add(AddRun(run));
                    }

                    break;
                }

                case "endpoint":
                {
                    if (models is null || serving is null)
                    {
                        break;
                    }

                    var versions = await db.DatasetVersions.AsNoTracking().Where(v => v.ProjectId == projectId).Join(db.Datasets, v => v.DatasetId, d => d.Id, (v, d) => new { d.Name, v.Version }).ToListAsync(ct);
                    foreach (var reference in versions.Select(v => $"{v.Name}@{v.Version}"))
                    {
                        foreach (var model in await models.FindByDatasetAsync(projectId, reference, ct))
                        {
                            var serves = await serving.FindServingAsync(projectId, model.ModelId, model.Version, ct);
                            if (serves.Any(s => s.Endpoint == key))
                            {
                                result.Add(AddModel(model));
                            }
                        }
                    }

                    break;
                }
            }

            return result;
        }

        private async Task<List<string>> DownstreamAsync(string node, CancellationToken ct)
        {
            var result = new List<string>();
            var (kind, key) = Split(node);
            switch (kind)
            {
                case "file":
                {
                    var versions = await db.DatasetVersions.AsNoTracking().Where(v => v.ProjectId == projectId && v.Sha256 == key.Replace("sha256:", string.Empty, StringComparison.Ordinal))
                        .Join(db.Datasets, v => v.DatasetId, d => d.Id, (v, d) => new { d, v }).ToListAsync(ct);
                    result.AddRange(versions.Select(x => AddDataset(x.d, x.v)));
                    break;
                }

                case "dataset":
                {
                    var version = _versions[node];
                    var runs = await db.LineageEdges.AsNoTracking().Where(e => e.DatasetVersionId == version.Id && e.Direction == EdgeDirection.Input).Select(e => e.RunId).Distinct().ToListAsync(ct);
                    result.AddRange(runs.Select(AddRun));
                    if (models is not null)
                    {
                        foreach (var model in await models.FindByDatasetAsync(projectId, Nodes[node].Name, ct))
                        {
                            result.Add(AddModel(model));
                        }
                    }

                    break;
                }

                case "run":
                    result.AddRange(await RunDatasetsAsync(Guid.Parse(key), EdgeDirection.Output, ct));
                    if (models is not null)
                    {
                        foreach (var model in await models.FindByRunAsync(projectId, key, ct))
                        {
                            result.Add(AddModel(model));
                        }
                    }

                    break;
                case "model":
                    if (serving is not null)
                    {
                        var model = _models[node];
                        foreach (var endpoint in await serving.FindServingAsync(projectId, model.ModelId, model.Version, ct))
                        {
                            result.Add(AddEndpoint(endpoint.Endpoint));
                        }
                    }

                    break;
            }

            return result;
        }

        private async Task<List<string>> RunDatasetsAsync(Guid run, string direction, CancellationToken ct)
        {
            var rows = await db.LineageEdges.AsNoTracking().Where(e => e.ProjectId == projectId && e.RunId == run && e.Direction == direction)
                .Join(db.DatasetVersions, e => e.DatasetVersionId, v => v.Id, (e, v) => v)
                .Join(db.Datasets, v => v.DatasetId, d => d.Id, (v, d) => new { d, v }).ToListAsync(ct);
            return rows.DistinctBy(x => x.v.Id).Select(x => AddDataset(x.d, x.v)).ToList();
        }

        private static (string Kind, string Key) Split(string node)
        {
            var colon = node.IndexOf(':', StringComparison.Ordinal);
            return (node[..colon], node[(colon + 1)..]);
        }
    }
}

public sealed record LineageEventDto(Guid Id, Guid RunId, Guid? WorkflowRunId, string EventType, string Job, DateTimeOffset EventTime, DateTimeOffset? DeliveredAt, int Attempts, string? LastError, JsonElement Event);

/// <summary>The OpenLineage events kept for the project, oldest first; filter by run (OpenLineage or workflow run id).</summary>
public sealed record ListLineageEvents(ClaimsPrincipal Caller, string Project, Guid? Run, int Limit) : IQuery<IReadOnlyList<LineageEventDto>>;

public sealed class ListLineageEventsHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListLineageEvents, IReadOnlyList<LineageEventDto>>
{
    public async ValueTask<IReadOnlyList<LineageEventDto>> Handle(ListLineageEvents query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var events = db.LineageEvents.AsNoTracking().Where(e => e.ProjectId == access.ProjectId);
        if (query.Run is { } run)
        {
            events = events.Where(e => e.OlRunId == run || e.WorkflowRunId == run);
        }

        var limit = Math.Clamp(query.Limit, 1, 1000);
        // START and its end can share a millisecond: START first within one time.
        var rows = await events.OrderByDescending(e => e.EventTime).ThenByDescending(e => e.EventType == "START" ? 0 : 1).Take(limit).ToListAsync(cancellationToken);
        return rows.OrderBy(e => e.EventTime).ThenBy(e => e.EventType == "START" ? 0 : 1).Select(e => new LineageEventDto(e.Id, e.OlRunId, e.WorkflowRunId, e.EventType, e.JobName, e.EventTime, e.DeliveredAt, e.Attempts, e.LastError, Datasets.DatasetMapping.Element(e.Payload))).ToList();
    }
}
