using System.Globalization;
using System.Text.Json.Nodes;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.Predictions.Batch;
using MlPlatform.Predictions.Endpoints;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Contracts.StepTypes;

namespace MlPlatform.Predictions.Steps;

/// <summary>
/// <c>model.deploy</c>: creates the endpoint with one variant, or points an existing variant at the
/// version (adding the variant when new; the other variants' weights shrink in proportion to make
/// room for its weight). Outputs endpoint, variant, model, version.
/// </summary>
public sealed class ModelDeployStep(IServiceScopeFactory scopes) : StepType
{
    public override string Name => "model.deploy";

    public override string Description => "Create or update a prediction endpoint so that a variant serves a model version or follows an alias.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("endpoint", ParameterType.String, Required: true, Description: "Endpoint name (unique across the server)"),
        new("model", ParameterType.String, Required: true, Description: "Registered model name"),
        new("version", ParameterType.Any, Description: "Version number (or give alias)"),
        new("alias", ParameterType.String, Description: "Alias to follow (or give version)"),
        new("variant", ParameterType.String, Description: "Variant name; default the model name"),
        new("weight", ParameterType.Int, Description: "Percent of traffic for the variant; default 100 for a new endpoint"),
        new("production", ParameterType.Bool, Description: "Create the endpoint as a production endpoint (approved versions only)"),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        var hasVersion = parameters.ContainsKey("version");
        var hasAlias = parameters.ContainsKey("alias");
        if (hasVersion == hasAlias)
        {
            errors.Add(new StepParameterError("version", "Give exactly one of 'version' and 'alias'."));
        }

        if (values.TryGetValue("endpoint", out var e) && !EndpointRules.NamePattern().IsMatch(e!.GetValue<string>()))
        {
            errors.Add(new StepParameterError("endpoint", EndpointRules.NameMessage));
        }

        if (values.TryGetValue("weight", out var w) && ParameterTypes.TryGetNumber(w, out var weight) && weight is < 0 or > 100)
        {
            errors.Add(new StepParameterError("weight", "A weight is a percentage from 0 to 100."));
        }
    }

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        var p = context.Parameters;
        var name = p["endpoint"]!.GetValue<string>();
        var model = p["model"]!.GetValue<string>();
        var alias = p["alias"]?.GetValue<string>();
        var version = alias is null ? EndpointWriter.VersionText(p["version"]) : null;
        var variantName = p["variant"]?.GetValue<string>() ?? model;
        int? weight = ParameterTypes.TryGetNumber(p["weight"], out var wn) ? (int)wn : null;

        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PredictionsDbContext>();
        var writer = scope.ServiceProvider.GetRequiredService<EndpointWriter>();
        var endpoint = await db.Endpoints.Include(x => x.Variants).SingleOrDefaultAsync(x => x.Name == name, cancellationToken);
        var variantSpec = new VariantSpec(variantName, model, version is null ? null : JsonValue.Create(version), alias, null);
        try
        {
            if (endpoint is null)
            {
                var project = await scope.ServiceProvider.GetRequiredService<IProjectDirectory>().FindNameAsync(context.ProjectId, cancellationToken)
                    ?? throw new StepFailedException("The run's project no longer exists.", retryable: false);
                endpoint = await writer.CreateAsync(context.ProjectId, project, new EndpointSpec(name, null, p["production"]?.GetValue<bool>() ?? false, [variantSpec with { Weight = 100 }], null, null, null, null, null), null, cancellationToken);
            }
            else
            {
                if (endpoint.ProjectId != context.ProjectId)
                {
                    throw new StepFailedException($"The endpoint '{name}' belongs to another project.", retryable: false);
                }

                var live = endpoint.Variants.Where(v => !v.Shadow).ToList();
                var others = live.Where(v => v.Name != variantName).ToList();
                var mine = weight ?? (others.Count == 0 ? 100 : live.FirstOrDefault(v => v.Name == variantName)?.Weight ?? 0);
                var weights = Rebalance(others.Select(v => (v.Name, v.Weight)).ToList(), mine);
                var specs = others.Select(v => new VariantSpec(v.Name, v.Model, v.Alias is null ? JsonValue.Create(v.Version) : null, v.Alias, weights[v.Name])).ToList();
                specs.Add(variantSpec with { Weight = mine });
                var shadow = endpoint.Variants.FirstOrDefault(v => v.Shadow) is { } s ? new VariantSpec(s.Name, s.Model, s.Alias is null ? JsonValue.Create(s.Version) : null, s.Alias, null) : null;
                await writer.ReplaceAsync(endpoint, new EndpointSpec(
                    endpoint.Name, endpoint.Description, endpoint.Production, specs, shadow,
                    new CacheSpec(endpoint.CacheEnabled, endpoint.CacheMaxEntries),
                    new BatchingSpec(endpoint.BatchingEnabled, endpoint.MaxBatchSize, endpoint.MaxBatchDelayMicroseconds / 1000.0),
                    endpoint.MaxQueue, endpoint.MaxConcurrency), null, cancellationToken);
            }
        }
        catch (PlatformException ex)
        {
            throw new StepFailedException(ex.Message, retryable: false, ex);
        }

        var deployed = endpoint.Variants.Single(v => v.Name == variantName && !v.Shadow);
        context.Log.Info($"Endpoint '{name}': variant '{variantName}' serves {deployed.Model} version {deployed.Version} with weight {deployed.Weight}.");
        return StepResult.Succeeded(new Dictionary<string, JsonNode?>
        {
            ["endpoint"] = name,
            ["variant"] = variantName,
            ["model"] = deployed.Model,
            ["version"] = deployed.Version,
            ["weight"] = deployed.Weight,
        });
    }

    /// <summary>Scales the other variants to 100 − <paramref name="mine"/>, keeping their proportions; rounding goes to the largest.</summary>
    internal static Dictionary<string, int> Rebalance(IReadOnlyList<(string Name, int Weight)> others, int mine)
    {
        var room = 100 - mine;
        var total = others.Sum(o => o.Weight);
        var result = others.ToDictionary(o => o.Name, o => total == 0 ? 0 : o.Weight * room / total);
        if (others.Count > 0)
        {
            var rest = room - result.Values.Sum();
            var largest = total == 0 ? others[0].Name : others.MaxBy(o => o.Weight).Name;
            result[largest] += rest;
        }

        return result;
    }
}

/// <summary>
/// <c>predict.batch</c>: predicts every row of a CSV or JSON-lines object with an endpoint's main
/// variant, or with a model version directly, and writes the answers in the same format (by default
/// to runs/{runId}/{stepId}/predictions.csv|jsonl). Outputs outputKey and rows.
/// </summary>
public sealed class PredictBatchStep(IServiceScopeFactory scopes, EndpointRouter router, ModelSessions sessions, BatchPredictor predictor) : StepType
{
    public override string Name => "predict.batch";

    public override string Description => "Predict every row of a CSV or JSON-lines object with an endpoint or a model version and write the predictions back to the artifact store.";

    public override IReadOnlyList<StepParameterSpec> Parameters { get; } =
    [
        new("endpoint", ParameterType.String, Description: "Endpoint whose main variant predicts (or give model and version)"),
        new("model", ParameterType.String, Description: "Registered model name"),
        new("version", ParameterType.Any, Description: "Version number or alias"),
        new("input", ParameterType.String, Required: true, Description: "Object key of a .csv (header row) or .jsonl file"),
        new("output", ParameterType.String, Description: "Object key to write; default runs/{runId}/{stepId}/predictions.<same format>"),
    ];

    protected override void ValidateValues(JsonObject parameters, IReadOnlyDictionary<string, JsonNode?> values, List<StepParameterError> errors)
    {
        var byEndpoint = parameters.ContainsKey("endpoint");
        var byModel = parameters.ContainsKey("model") || parameters.ContainsKey("version");
        if (byEndpoint == byModel || (byModel && !(parameters.ContainsKey("model") && parameters.ContainsKey("version"))))
        {
            errors.Add(new StepParameterError("endpoint", "Give either 'endpoint', or 'model' and 'version'."));
        }
    }

    public override async Task<StepResult> ExecuteAsync(StepContext context, CancellationToken cancellationToken)
    {
        var p = context.Parameters;
        var input = p["input"]!.GetValue<string>();
        var output = p["output"]?.GetValue<string>() ?? $"runs/{context.RunId}/{context.StepId}/predictions{(BatchPredictor.IsCsv(input) ? ".csv" : ".jsonl")}";
        try
        {
            string? projectName;
            await using (var names = scopes.CreateAsyncScope())
            {
                projectName = await names.ServiceProvider.GetRequiredService<IProjectDirectory>().FindNameAsync(context.ProjectId, cancellationToken);
            }

            BatchPredictor.CheckKeys(input, output, context.ProjectId, projectName, context.RunId);
            VariantRuntime variant;
            if (p["endpoint"]?.GetValue<string>() is { } name)
            {
                var endpoint = await router.GetAsync(name, cancellationToken);
                if (endpoint is null || endpoint.ProjectId != context.ProjectId)
                {
                    throw new StepFailedException($"There is no endpoint '{name}' in this project.", retryable: false);
                }

                variant = endpoint.Variants.OrderByDescending(v => v.Weight).First();
            }
            else
            {
                var model = p["model"]!.GetValue<string>();
                var version = EndpointWriter.VersionText(p["version"]) ?? throw new StepFailedException("'version' must be a number or an alias.", retryable: false);
                await using var scope = scopes.CreateAsyncScope();
                var resolved = await scope.ServiceProvider.GetRequiredService<IModelVersionResolver>().ResolveAsync(context.ProjectId, model, version, cancellationToken)
                    ?? throw new StepFailedException($"Model '{model}' has no version or alias '{version}' in this project.", retryable: false);
                var file = new ModelFile(resolved.Sha256, resolved.ArtifactKey, resolved.SizeBytes);
                var loaded = await sessions.GetAsync(file, cancellationToken);
                variant = new VariantRuntime(model, resolved.Model, resolved.Version, 100, false, file, loaded, sessions, new VariantStats());
            }

            context.Log.Info($"Predicting {input} with {variant.Model} version {variant.Version} into {output}.");
            var lastLogged = 0L;
            var rows = await predictor.RunAsync(variant, input, output, progress =>
            {
                if (progress.Rows - lastLogged >= 10_000 || progress.BytesRead == progress.InputBytes)
                {
                    lastLogged = progress.Rows;
                    var percent = progress.InputBytes == 0 ? 100 : 100.0 * progress.BytesRead / progress.InputBytes;
                    context.Log.Info(string.Create(CultureInfo.InvariantCulture, $"{progress.Rows} rows predicted ({percent:0}% of the input read)."));
                }

                return Task.CompletedTask;
            }, cancellationToken);
            return StepResult.Succeeded(new Dictionary<string, JsonNode?>
            {
                ["outputKey"] = output,
                ["rows"] = rows,
                ["model"] = variant.Model,
                ["version"] = variant.Version,
            });
        }
        catch (PlatformException ex)
        {
            throw new StepFailedException(ex.Message, retryable: false, ex);
        }
    }
}
