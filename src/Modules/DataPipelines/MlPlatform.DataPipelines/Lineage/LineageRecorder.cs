using System.Text.Json.Nodes;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Persistence;

namespace MlPlatform.DataPipelines.Lineage;

/// <summary>One data operation seen as an OpenLineage run: a job, its inputs and outputs, and its outcome.</summary>
public sealed class Operation
{
    public required Guid ProjectId { get; init; }

    public required string ProjectName { get; init; }

    /// <summary>Job name, e.g. <c>dataset.upload</c>, <c>data.validate</c> or <c>{workflowRun}.{step}</c>.</summary>
    public required string Job { get; init; }

    public Guid OlRunId { get; } = Guid.CreateVersion7();

    public Guid? WorkflowRunId { get; init; }

    public string? Step { get; init; }

    public required DateTimeOffset StartedAt { get; init; }

    public Guid? CreatedBy { get; init; }

    /// <summary>The run a version is attributed to: the workflow run, or this operation.</summary>
    public Guid RunId => WorkflowRunId ?? OlRunId;

    public List<(DatasetRef Dataset, JsonObject? InputFacets)> Inputs { get; } = [];

    public List<DatasetRef> Outputs { get; } = [];

    /// <summary>Set once its events are written, so a failure is not recorded twice.</summary>
    public bool Finished { get; set; }
}

/// <summary>A dataset version as lineage names it.</summary>
public sealed record DatasetRef(Guid VersionId, string Dataset, int Version, string ArtifactUri, string Schema, long Rows, long SizeBytes)
{
    public string Name => $"{Dataset}@{Version}";
}

/// <summary>
/// Writes OpenLineage RunEvents (spec 2-0-2) for an operation into the module's table, where a
/// background sender delivers them; START and COMPLETE (or FAIL) are stored together when the
/// operation ends, in the same transaction as what it produced.
/// </summary>
internal static class LineageRecorder
{
    public const string Producer = "https://github.com/mlplatform/mlplatform/tree/main/src/Modules/DataPipelines";
    private const string RunEventSchema = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

    public static void Finish(DataPipelinesDbContext db, Operation operation, DateTimeOffset now, string? error)
    {
        operation.Finished = true;
        db.LineageEvents.Add(Event(operation, "START", operation.StartedAt, null, withOutputs: false));
        db.LineageEvents.Add(Event(operation, error is null ? "COMPLETE" : "FAIL", now, error, withOutputs: error is null));
        foreach (var (input, _) in operation.Inputs.DistinctBy(i => i.Dataset.VersionId))
        {
            db.LineageEdges.Add(Edge(operation, input.VersionId, EdgeDirection.Input, now));
        }

        if (error is null)
        {
            foreach (var output in operation.Outputs.DistinctBy(o => o.VersionId))
            {
                db.LineageEdges.Add(Edge(operation, output.VersionId, EdgeDirection.Output, now));
            }
        }
    }

    private static LineageEdge Edge(Operation operation, Guid versionId, string direction, DateTimeOffset now) => new()
    {
        Id = Guid.CreateVersion7(),
        ProjectId = operation.ProjectId,
        RunId = operation.RunId,
        Step = operation.Step,
        DatasetVersionId = versionId,
        Direction = direction,
        CreatedAt = now,
    };

    public static string Namespace(string project) => $"mlplatform://{project}";

    private static LineageEvent Event(Operation operation, string type, DateTimeOffset time, string? error, bool withOutputs)
    {
        var runFacets = new JsonObject();
        if (operation.WorkflowRunId is { } workflowRun)
        {
            runFacets["parent"] = Facet("https://openlineage.io/spec/facets/1-0-1/ParentRunFacet.json", new JsonObject
            {
                ["run"] = new JsonObject { ["runId"] = workflowRun.ToString() },
                ["job"] = new JsonObject { ["namespace"] = Namespace(operation.ProjectName), ["name"] = $"workflow-run.{workflowRun}" },
            });
        }

        if (error is not null)
        {
            runFacets["errorMessage"] = Facet("https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json", new JsonObject
            {
                ["message"] = error,
                ["programmingLanguage"] = "C#",
            });
        }

        var inputs = new JsonArray();
        foreach (var (input, inputFacets) in operation.Inputs)
        {
            var dataset = Dataset(operation, input);
            if (inputFacets is not null && type != "START")
            {
                dataset["inputFacets"] = inputFacets.DeepClone();
            }

            inputs.Add(dataset);
        }

        var outputs = new JsonArray();
        if (withOutputs)
        {
            foreach (var output in operation.Outputs)
            {
                var dataset = Dataset(operation, output);
                dataset["outputFacets"] = new JsonObject
                {
                    ["outputStatistics"] = Facet("https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json", new JsonObject
                    {
                        ["rowCount"] = output.Rows,
                        ["size"] = output.SizeBytes,
                    }),
                };
                outputs.Add(dataset);
            }
        }

        var payload = new JsonObject
        {
            ["eventType"] = type,
            ["eventTime"] = time.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
            ["producer"] = Producer,
            ["schemaURL"] = RunEventSchema,
            ["run"] = new JsonObject { ["runId"] = operation.OlRunId.ToString(), ["facets"] = runFacets },
            ["job"] = new JsonObject
            {
                ["namespace"] = Namespace(operation.ProjectName),
                ["name"] = operation.Job,
                ["facets"] = new JsonObject
                {
                    ["jobType"] = Facet("https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json", new JsonObject
                    {
                        ["processingType"] = "BATCH",
                        ["integration"] = "MLPLATFORM",
                        ["jobType"] = operation.Step is null ? "TASK" : "STEP",
                    }),
                },
            },
            ["inputs"] = inputs,
            ["outputs"] = outputs,
        };
        return new LineageEvent
        {
            Id = Guid.CreateVersion7(),
            ProjectId = operation.ProjectId,
            OlRunId = operation.OlRunId,
            WorkflowRunId = operation.WorkflowRunId,
            EventType = type,
            JobName = operation.Job.Length > 300 ? operation.Job[..300] : operation.Job,
            EventTime = time,
            Payload = payload.ToJsonString(),
            NextAttemptAt = time,
        };
    }

    /// <summary>Dataset names follow the store (Naming.md: s3://bucket + key, or file + path); the platform's name@version is a symlink.</summary>
    private static JsonObject Dataset(Operation operation, DatasetRef dataset)
    {
        var uri = new Uri(dataset.ArtifactUri);
        var (ns, name) = uri.Scheme == "s3" ? ($"s3://{uri.Host}", uri.AbsolutePath.TrimStart('/')) : ("file", uri.LocalPath);
        var fields = new JsonArray();
        foreach (var column in System.Text.Json.JsonSerializer.Deserialize<List<Engine.ColumnSchema>>(dataset.Schema, System.Text.Json.JsonSerializerOptions.Web) ?? [])
        {
            fields.Add(new JsonObject { ["name"] = column.Name, ["type"] = column.Type });
        }

        return new JsonObject
        {
            ["namespace"] = ns,
            ["name"] = name,
            ["facets"] = new JsonObject
            {
                ["schema"] = Facet("https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json", new JsonObject { ["fields"] = fields }),
                ["symlinks"] = Facet("https://openlineage.io/spec/facets/1-0-1/SymlinksDatasetFacet.json", new JsonObject
                {
                    ["identifiers"] = new JsonArray(new JsonObject
                    {
                        ["namespace"] = Namespace(operation.ProjectName),
                        ["name"] = dataset.Name,
                        ["type"] = "DATASET",
                    }),
                }),
            },
        };
    }

    public static JsonObject Facet(string schemaUrl, JsonObject body)
    {
        var facet = new JsonObject { ["_producer"] = Producer, ["_schemaURL"] = schemaUrl };
        foreach (var (key, value) in body.ToList())
        {
            body.Remove(key);
            facet[key] = value;
        }

        return facet;
    }
}
