using System.Security.Claims;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.Gateway.Contracts;
using MlPlatform.ModelRegistry.Aliases;
using MlPlatform.ModelRegistry.Approvals;
using MlPlatform.ModelRegistry.Models;
using MlPlatform.ModelRegistry.Versions;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.SharedKernel.Uploads;

namespace MlPlatform.ModelRegistry;

/// <summary>/api/v1/projects/{project}/models: registered models, versions, aliases and approvals.</summary>
public static class ModelRegistryEndpoints
{
    /// <summary>Room for the multipart envelope and form fields around a file of the maximum size.</summary>
    private const long MultipartOverheadBytes = 1024 * 1024;

    public static void MapModelRegistryEndpoints(this IEndpointRouteBuilder endpoints, ModelRegistrySettings settings)
    {
        var models = endpoints.MapGroup("/api/v1/projects/{project}/models")
            .WithTags("ModelRegistry")
            .RequireAuthorization(PlatformPolicies.Authenticated);

        // Bodies are optional in the signatures so that an empty or `null` body gets our message, not the framework's.
        models.MapPost("/", async Task<Created<ModelDto>> (string project, CreateModelRequest? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                body = body ?? throw new BadRequestException("Send a JSON body {\"name\": ..., \"description\", \"tags\", \"protectedAliases\"} (only the name is required).");
                var model = await mediator.Send(new CreateModel(user, project, body.Name ?? string.Empty, body.Description, body.Tags ?? [], body.ProtectedAliases ?? []), ct);
                // Project and model names are checked against safe character sets, so they are safe in a header.
                return TypedResults.Created($"/api/v1/projects/{model.Project}/models/{model.Name}", model);
            })
            .WithSummary("Register a model name in a project (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        models.MapGet("/", async Task<Ok<Page<ModelDto>>> (string project, string? prefix, string? tag, string? alias, string? status, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListModels(user, project, prefix, tag, offset ?? 0, limit ?? 50, alias, status), ct)))
            .WithSummary("The project's models by name; filters: name prefix, tag, alias (models that have it), status (models with a version in it)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}", async Task<Ok<ModelDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetModel(user, project, name), ct)))
            .WithSummary("A registered model")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapPut("/{name}", async Task<Ok<ModelDto>> (string project, string name, UpdateModelRequest? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                body = body ?? throw new BadRequestException("Send a JSON body with any of \"description\", \"tags\", \"protectedAliases\" (absent fields stay as they are).");
                return TypedResults.Ok(await mediator.Send(new UpdateModel(user, project, name, body.Description, body.Tags, body.ProtectedAliases), ct));
            })
            .WithSummary("Change a model's description, tags (Maintainer) or protected aliases (approver); absent fields stay")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapPost("/{name}/versions", async Task<Created<ModelVersionDto>> (string project, string name, HttpRequest request, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var version = await mediator.Send(new RegisterVersion(user, project, name, (max, token) => ModelUpload.ReadAsync(request, max, token)), ct);
                return TypedResults.Created($"/api/v1/projects/{version.Project}/models/{version.Model}/versions/{version.Version}", version);
            })
            .Accepts<IFormFile>("multipart/form-data", "application/octet-stream", "application/json")
            .WithRequestBodyLimit(settings.MaxUploadBytes + MultipartOverheadBytes)
            .WithSummary("Register the next version: upload an ONNX file (multipart field 'file' or a raw body; description, metrics, params, lineage as form fields or query) or name an object in the artifact store (JSON {\"artifact\": key, ...})")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        models.MapGet("/{name}/versions", async Task<Ok<Page<ModelVersionDto>>> (string project, string name, string? status, bool? includeArchived, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListVersions(user, project, name, status, offset ?? 0, limit ?? 50, includeArchived ?? false), ct)))
            .WithSummary("A model's versions, newest first; filter: status; archived versions only with includeArchived=true")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}/versions/{version:int}", async Task<Ok<ModelVersionDto>> (string project, string name, int version, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetVersion(user, project, name, version), ct)))
            .WithSummary("A model version with its signature, metadata, metrics and approval")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}/versions/{version:int}/artifact", async Task<FileStreamHttpResult> (string project, string name, int version, HttpResponse response, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var artifact = await mediator.Send(new DownloadVersion(user, project, name, version), ct);
                // RFC 9530 digest of the whole file, so a client can check what it received.
                response.Headers["Repr-Digest"] = UploadSpool.ReprDigest(artifact.Sha256);
                return TypedResults.Stream(artifact.Content, "application/octet-stream", artifact.FileName);
            })
            .WithSummary("Download the version's ONNX file (streamed)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}/versions/{version:int}/lineage", async Task<Ok<VersionLineageDto>> (string project, string name, int version, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetVersionLineage(user, project, name, version), ct)))
            .WithSummary("A version's lineage: upstream (run, step, datasets, code, parent, source artifact) and downstream (child versions, aliases, endpoints serving it)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}/aliases/{alias}/version", async Task<Ok<ModelVersionDto>> (string project, string name, string alias, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetVersionByAlias(user, project, name, alias), ct)))
            .WithSummary("The version an alias points to, in full")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapPost("/{name}/versions/{version:int}/approve", async Task<Ok<ModelVersionDto>> (string project, string name, int version, DecisionRequest? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new DecideVersion(user, project, name, version, Approve: true, body?.Comment), ct)))
            .WithSummary("Approve a pending version (approver; not its registrant)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        models.MapPost("/{name}/versions/{version:int}/reject", async Task<Ok<ModelVersionDto>> (string project, string name, int version, DecisionRequest? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new DecideVersion(user, project, name, version, Approve: false, body?.Comment), ct)))
            .WithSummary("Reject a pending version (approver; not its registrant)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        models.MapPost("/{name}/versions/{version:int}/archive", async Task<Ok<ModelVersionDto>> (string project, string name, int version, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ArchiveVersion(user, project, name, version), ct)))
            .WithSummary("Archive a version (Maintainer): no aliases, hidden from default listings; 409 while an alias points at it or an endpoint serves it")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        models.MapGet("/{name}/aliases", async Task<Ok<IReadOnlyList<AliasDto>>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListAliases(user, project, name), ct)))
            .WithSummary("A model's aliases")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}/aliases/{alias}", async Task<Ok<AliasDto>> (string project, string name, string alias, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetAlias(user, project, name, alias), ct)))
            .WithSummary("The version an alias points to")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapGet("/{name}/aliases/{alias}/history", async Task<Ok<IReadOnlyList<AliasHistoryDto>>> (string project, string name, string alias, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetAliasHistory(user, project, name, alias), ct)))
            .WithSummary("Every move of an alias, oldest first")
            .ProducesProblem(StatusCodes.Status404NotFound);

        models.MapPut("/{name}/aliases/{alias}", async Task<Ok<AliasDto>> (string project, string name, string alias, MoveAliasRequest? body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                if (body?.Version is not { } version)
                {
                    throw new BadRequestException("Send {\"version\": N}.");
                }

                return TypedResults.Ok(await mediator.Send(new MoveAlias(user, project, name, alias, version), ct));
            })
            .WithSummary("Point an alias at a version (protected aliases: approvers only, approved versions only)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        models.MapDelete("/{name}/aliases/{alias}", async Task<NoContent> (string project, string name, string alias, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                await mediator.Send(new DeleteAlias(user, project, name, alias), ct);
                return TypedResults.NoContent();
            })
            .WithSummary("Remove an alias (the history keeps the removal)")
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);
    }
}
