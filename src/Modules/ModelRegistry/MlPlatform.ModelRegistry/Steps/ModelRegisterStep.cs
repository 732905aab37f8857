using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Persistence;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.ModelRegistry.Steps;

/// <summary>
/// <c>model.register</c>: registers an ONNX file an earlier step of the run wrote (an object key)
/// as the next version of a model, creating the model if the project has none of that name. The
/// run and step become the version's lineage. A re-run of the same step (a retry after its host
/// died) returns the version it registered before instead of registering it twice.
/// </summary>
public sealed class ModelRegisterStep(IServiceScopeFactory scopes) : StepType
{
    public override string Name => "model.register";

    public override string Description => "Registers an ONNX model from the artifact store as the next version of a model, with metrics and the run's lineage.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("model", ParameterType.String, Required: true, Description: "The registered model's name; created when missing."),
        new("artifact", ParameterType.String, Required: true, Description: "Object key of the ONNX file, e.g. ${steps.train.outputs.modelKey}."),
        new("metrics", ParameterType.Object, Description: "Metrics to record with the version (numbers)."),
        new("datasets", ParameterType.Array, Description: "Dataset versions the model came from, \"name@version\"."),
        new("description", ParameterType.String, Description: "The version's description."),
        new("codeVersion", ParameterType.String, Description: "The code version (a commit, say) that produced the model."),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        if (values.TryGetValue("model", out var model) && !ModelRules.NamePattern().IsMatch(model!.GetValue<string>()))
        {
            errors.Add(new StepParameterError("model", ModelRules.NameMessage));
        }

        if (values.TryGetValue("metrics", out var metrics) && metrics is JsonObject given)
        {
            // Members that are templates (${steps.evaluate.outputs.auc}) are checked when the run resolves them.
            var literal = new JsonObject(given.Where(p => !StepTemplates.IsTemplated(p.Value)).Select(p => KeyValuePair.Create(p.Key, p.Value?.DeepClone())));
            if (Check(() => ModelUpload.ParseMetrics(literal.ToJsonString())) is { } problem)
            {
                errors.Add(new StepParameterError("metrics", problem));
            }
        }

        if (values.TryGetValue("datasets", out var datasets) && Datasets(datasets) is { Error: { } datasetProblem })
        {
            errors.Add(new StepParameterError("datasets", datasetProblem));
        }
    }

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var name = Text(context, "model") ?? throw new StepFailedException("The parameter 'model' is missing.", retryable: false);
        if (!ModelRules.NamePattern().IsMatch(name))
        {
            throw new StepFailedException(ModelRules.NameMessage, retryable: false);
        }

        var key = Text(context, "artifact") ?? throw new StepFailedException("The parameter 'artifact' is missing.", retryable: false);
        var description = Text(context, "description");
        var codeVersion = Text(context, "codeVersion");
        var (datasets, datasetError) = Datasets(context.Parameters["datasets"]);
        if (datasetError is not null)
        {
            throw new StepFailedException("datasets: " + datasetError, retryable: false);
        }

        var run = context.RunId.ToString();
        await using var scope = scopes.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var db = services.GetRequiredService<ModelRegistryDbContext>();
        var projectName = await services.GetRequiredService<IProjectDirectory>().FindNameAsync(context.ProjectId, cancellationToken)
            ?? throw new StepFailedException("The run's project no longer exists.", retryable: false);
        try
        {
            var metrics = ModelUpload.ParseMetrics(context.Parameters["metrics"]?.ToJsonString());
            ArtifactKeys.CheckAllowed(key, context.ProjectId, projectName, context.RunId);
            var model = await FindOrCreateModelAsync(db, context, name, cancellationToken);

            // Registered by an earlier attempt of this step (its host died after the commit): the same version again.
            foreach (var earlier in await db.ModelVersions.AsNoTracking().Where(v => v.ModelId == model.Id && v.WorkflowRunId == run).ToListAsync(cancellationToken))
            {
                if (JsonNode.Parse(earlier.Lineage)?["step"]?.GetValue<string>() == context.StepId)
                {
                    context.Log.Info($"Version {earlier.Version} of '{name}' was registered by an earlier attempt of this step.");
                    return Outputs(model.Name, earlier);
                }
            }

            var settings = services.GetRequiredService<ModelRegistrySettings>();
            await using var file = ModelUpload.ForArtifact(key, description);
            await file.FetchAsync(services.GetRequiredService<IObjectStore>(), settings.MaxUploadBytes, cancellationToken);
            var lineage = new VersionLineage(run, context.StepId, codeVersion, datasets, null, key);
            var version = await services.GetRequiredService<VersionRegistrar>().RegisterAsync(
                new NewVersion(context.ProjectId, projectName, model, file, metrics, [], lineage, description, null, $"workflow:{run}/{context.StepId}"),
                cancellationToken);
            context.Log.Info($"Registered '{key}' as version {version.Version} of '{name}' (sha256 {version.Sha256}), pending approval.");
            return Outputs(model.Name, version);
        }
        catch (PlatformException ex) when (ex.StatusCode is >= 400 and < 500 and not 409)
        {
            // Bad input (unknown object, not loadable, too large, outside the run's area) does not heal with a retry.
            throw new StepFailedException(ex.Message, retryable: false, ex);
        }
    }

    private static StepResult Outputs(string model, ModelVersion version) => StepResult.Succeeded(new Dictionary<string, JsonNode?>
    {
        ["model"] = model,
        ["version"] = version.Version,
        ["status"] = version.Status,
        ["sha256"] = version.Sha256,
        ["artifactUri"] = version.ArtifactUri,
    });

    private static async Task<RegisteredModel> FindOrCreateModelAsync(ModelRegistryDbContext db, StepContext context, string name, CancellationToken cancellationToken)
    {
        if (await db.Models.AsNoTracking().SingleOrDefaultAsync(m => m.ProjectId == context.ProjectId && m.Name == name, cancellationToken) is { } existing)
        {
            return existing;
        }

        var now = ModelLookup.Now(context.Clock);
        var model = new RegisteredModel { Id = Guid.CreateVersion7(), ProjectId = context.ProjectId, Name = name, Description = $"Created by workflow run {context.RunId}.", CreatedAt = now, UpdatedAt = now };
        db.Models.Add(model);
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            context.Log.Info($"Created the registered model '{name}'.");
            return model;
        }
        catch (DbUpdateException)
        {
            // Another run created it at the same moment: the unique name held, use theirs.
            db.ChangeTracker.Clear();
            return await ModelLookup.FindAsync(db, context.ProjectId, name, cancellationToken);
        }
    }

    private static string? Text(StepContext context, string name) =>
        context.Parameters[name] is JsonValue value && value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : null;

    private static (List<string> Datasets, string? Error) Datasets(JsonNode? node)
    {
        var list = new List<string>();
        if (node is null)
        {
            return (list, null);
        }

        if (node is not JsonArray array || array.Count > 100)
        {
            return (list, "Must be an array of at most 100 dataset versions (\"name@version\").");
        }

        foreach (var item in array)
        {
            if (StepTemplates.IsTemplated(item))
            {
                continue;
            }

            if (item is not JsonValue value || value.GetValueKind() != JsonValueKind.String || value.GetValue<string>() is not { Length: > 0 and <= 200 } text || !text.Contains('@', StringComparison.Ordinal))
            {
                return (list, "Each dataset is a string \"name@version\" of at most 200 characters.");
            }

            list.Add(text);
        }

        return (list, null);
    }

    private static string? Check(Action action)
    {
        try
        {
            action();
            return null;
        }
        catch (BadRequestException ex)
        {
            return ex.Message;
        }
    }
}
