using System.Security.Claims;
using System.Text.Json;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.Gateway.Contracts;
using MlPlatform.Predictions.Batch;
using MlPlatform.Predictions.Endpoints;
using MlPlatform.Predictions.Inference;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.Predictions;

/// <summary>/api/v1/projects/{project}/endpoints (management), /api/v1/endpoints/{name}/predict and /v2 (data plane).</summary>
public static class PredictionsEndpoints
{
    public static void MapPredictionsEndpoints(this IEndpointRouteBuilder endpoints, PredictionsSettings settings)
    {
        var group = endpoints.MapGroup("/api/v1/projects/{project}/endpoints")
            .WithTags("Predictions")
            .RequireAuthorization(PlatformPolicies.Authenticated);

        group.MapPost("/", async Task<Created<EndpointDto>> (string project, EndpointSpec body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var endpoint = await mediator.Send(new CreateEndpoint(user, project, body), ct);
                return TypedResults.Created($"/api/v1/projects/{endpoint.Project}/endpoints/{endpoint.Name}", endpoint);
            })
            .WithSummary("Deploy: create an endpoint with weighted variants and an optional shadow (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        group.MapGet("/", async Task<Ok<Page<EndpointDto>>> (string project, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListEndpoints(user, project, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("The project's endpoints")
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/{name}", async Task<Ok<EndpointDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetEndpoint(user, project, name), ct)))
            .WithSummary("An endpoint with its variants, their load state and counts, and the shadow's statistics")
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPut("/{name}", async Task<Ok<EndpointDto>> (string project, string name, EndpointSpec body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ReplaceEndpoint(user, project, name, body with { Name = body.Name ?? name }), ct)))
            .WithSummary("Replace an endpoint's variants, shadow and options atomically (Maintainer); new models load and warm before traffic moves")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        group.MapPut("/{name}/weights", async Task<Ok<EndpointDto>> (string project, string name, WeightsRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new SetWeights(user, project, name, body.Weights ?? new Dictionary<string, int>()), ct)))
            .WithSummary("Change the traffic split, {\"weights\": {\"variant\": percent}} adding up to 100 (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapDelete("/{name}", async Task<NoContent> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new DeleteEndpoint(user, project, name), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Remove an endpoint (Maintainer)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/{name}/batch-predictions", async Task<Accepted<BatchJobDto>> (string project, string name, BatchRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var job = await mediator.Send(new StartBatch(user, project, name, body.Input ?? string.Empty, body.Output), ct);
                return TypedResults.Accepted($"/api/v1/projects/{project}/endpoints/{name}/batch-predictions/{job.Id}", job);
            })
            .WithSummary("Predict every row of a CSV or JSON-lines object in the artifact store, written to another object, streamed (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/{name}/batch-predictions/{id:guid}", async Task<Ok<BatchJobDto>> (string project, string name, Guid id, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetBatch(user, project, name, id), ct)))
            .WithSummary("A batch prediction job with its progress (rows, bytes read of the input)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapGet("/{name}/batch-predictions", async Task<Ok<Page<BatchJobDto>>> (string project, string name, string? state, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListBatches(user, project, name, state, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("The endpoint's batch prediction jobs, newest first; state= keeps one state (queued, running, succeeded, failed, cancelled)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        group.MapPost("/{name}/batch-predictions/{id:guid}/cancel", async Task<Ok<BatchJobDto>> (string project, string name, Guid id, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new CancelBatch(user, project, name, id), ct)))
            .WithSummary("Cancel a queued or running batch prediction; its output is not written (Maintainer; 409 once it has ended)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        group.MapDelete("/{name}/batch-predictions/{id:guid}", async Task<NoContent> (string project, string name, Guid id, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new DeleteBatch(user, project, name, id), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Remove an ended batch prediction and its output object (Maintainer; 409 while queued or running)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        endpoints.MapPost("/api/v1/endpoints/{name}/predict", async (string name, HttpContext context, ClaimsPrincipal user, DataPlane plane) =>
            {
                var endpoint = await plane.EndpointAsync(user, name, context.RequestAborted);
                var headers = context.Request.Headers;
                var variant = endpoint.Select(
                    headers.TryGetValue(PredictionHeaders.SelectVariant, out var v) ? v.ToString() : null,
                    headers.TryGetValue(PredictionHeaders.RequestKey, out var k) ? k.ToString() : null);
                var body = await V2Codec.ReadBodyAsync(context.Request, plane.Settings.MaxRequestBytes, context.RequestAborted);
                var inputs = PredictApi.ToInputs(body, variant.Signature, variant.FeatureNames);
                var result = await plane.InferAsync(endpoint, variant, inputs, null, useCache: true, context.RequestAborted);
                DataPlane.WriteHeaders(context.Response, result);
                JsonBody.Write(context.Response, (endpoint.Name, variant, result.Outputs, inputs[0].Rows), static (writer, answer) =>
                    PredictApi.Write(writer, answer.Name, answer.variant, answer.Outputs, answer.Rows));
            })
            .WithTags("Predictions")
            .RequireAuthorization(PlatformPolicies.Authenticated)
            .WithMetadata(new NotAuditedAttribute())
            .WithRequestBodyLimit(settings.MaxRequestBytes)
            .Accepts<JsonElement>("application/json")
            .WithSummary("Predict with named features: {\"instances\": [{feature: value}]} → {\"predictions\": [...]}")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);

        endpoints.MapV2Endpoints(settings);
    }
}
