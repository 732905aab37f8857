using System.Security.Claims;
using System.Text.Json.Nodes;
using Mediator;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Quality;
using MlPlatform.DataPipelines.Transforms;
using MlPlatform.Gateway.Contracts;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.SharedKernel.Uploads;

namespace MlPlatform.DataPipelines;

public sealed record IngestRequest(string? Source, string? Format);

public sealed record SplitRequest(string? Dataset, double? TestFraction, long? Seed, string? TrainName, string? TestName);

/// <summary>/api/v1/projects/{project}/datasets, /quality, /transforms and /lineage.</summary>
public static class DataPipelinesEndpoints
{
    public static void MapDataPipelinesEndpoints(this IEndpointRouteBuilder endpoints, DataPipelinesSettings settings)
    {
        var project = endpoints.MapGroup("/api/v1/projects/{project}")
            .WithTags("DataPipelines")
            .RequireAuthorization(PlatformPolicies.Authenticated);

        project.MapPost("/datasets", async Task<Created<DatasetDto>> (string project, CreateDatasetRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var dataset = await mediator.Send(new CreateDataset(user, project, body.Name ?? string.Empty, body.Description, body.Schema), ct);
                return TypedResults.Created($"/api/v1/projects/{dataset.Project}/datasets/{dataset.Name}", dataset);
            })
            .WithSummary("Create a dataset (Maintainer), optionally with a declared schema [{name, type}] every version must match")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict);

        project.MapGet("/datasets", async Task<Ok<Page<DatasetDto>>> (string project, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListDatasets(user, project, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("The project's datasets by name")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/datasets/{name}", async Task<Ok<DatasetDto>> (string project, string name, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetDataset(user, project, name), ct)))
            .WithSummary("A dataset")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapPost("/datasets/{name}/versions", async Task<Results<Created<DatasetVersionDto>, Ok<DatasetVersionDto>>> (string project, string name, string? format, HttpRequest request, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var outcome = await mediator.Send(new UploadVersion(user, project, name, format, (path, max, token) => DatasetUpload.ReadAsync(request, path, max, token)), ct);
                return Answer(outcome);
            })
            .Accepts<IFormFile>("multipart/form-data", "text/csv", "application/x-ndjson", "application/vnd.apache.parquet", "application/octet-stream")
            .WithRequestBodyLimit(settings.MaxUploadBytes + (1024 * 1024))
            .WithSummary("Upload a CSV, Parquet or JSON-lines file as a version (streamed; 201, or 200 with the existing version when the bytes are already one)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        project.MapPost("/datasets/{name}/ingest", async Task<Results<Created<DatasetVersionDto>, Ok<DatasetVersionDto>>> (string project, string name, IngestRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                Answer(await mediator.Send(new IngestVersion(user, project, name, body.Source ?? string.Empty, body.Format), ct)))
            .WithSummary("Add a version from an object in the artifact store (under projects/{project}/ or datasets/{projectId}/)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        project.MapGet("/datasets/{name}/versions", async Task<Ok<Page<DatasetVersionDto>>> (string project, string name, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListVersions(user, project, name, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("A dataset's versions, newest first (without profiles)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/datasets/{name}/versions/{version:int}", async Task<Ok<DatasetVersionDto>> (string project, string name, int version, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetVersion(user, project, name, version), ct)))
            .WithSummary("A version with its schema, profile and origin")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/datasets/{name}/versions/{version:int}/content", async Task<FileStreamHttpResult> (string project, string name, int version, HttpResponse response, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var content = await mediator.Send(new DownloadVersion(user, project, name, version), ct);
                response.Headers["Repr-Digest"] = UploadSpool.ReprDigest(content.Sha256);
                return TypedResults.Stream(content.Content, content.ContentType, content.FileName);
            })
            .WithSummary("Download the version's file (streamed)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/datasets/{name}/versions/{version:int}/suggested-suite", async Task<Ok<JsonObject>> (string project, string name, int version, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new SuggestSuite(user, project, name, version), ct)))
            .WithSummary("A starter quality suite suggested from the version's profile (post it to /quality/suites to keep it)")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapPost("/quality/suites", async Task<Created<SuiteDto>> (string project, CreateSuiteRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var suite = await mediator.Send(new CreateSuite(user, project, body.Name ?? string.Empty, body.Description, body.Rules), ct);
                return TypedResults.Created($"/api/v1/projects/{suite.Project}/quality/suites/{suite.Name}@{suite.Version}", suite);
            })
            .WithSummary("Store a quality suite (Maintainer); the same name again is its next version")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/quality/suites", async Task<Ok<IReadOnlyList<SuiteDto>>> (string project, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListSuites(user, project), ct)))
            .WithSummary("The latest version of each suite")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/quality/suites/{suite}", async Task<Ok<SuiteDto>> (string project, string suite, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetSuite(user, project, suite), ct)))
            .WithSummary("A suite: name (latest) or name@version")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapPost("/quality/runs", async Task<Created<QualityReportDto>> (string project, RunSuiteRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
            {
                var report = await mediator.Send(new RunSuite(user, project, body.Dataset ?? string.Empty, body.Suite ?? string.Empty), ct);
                return TypedResults.Created($"/api/v1/projects/{report.Project}/quality/reports/{report.Id}", report);
            })
            .WithSummary("Run a suite on a dataset version and store the report (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        project.MapGet("/quality/reports", async Task<Ok<Page<QualityReportSummaryDto>>> (string project, string? dataset, string? suite, bool? passed, int? offset, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListReports(user, project, dataset, suite, passed, offset ?? 0, limit ?? 50), ct)))
            .WithSummary("Quality reports, newest first, without their rule results: dataset=name|name@version, suite=name|name@version, passed=true|false")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/quality/reports/{id:guid}", async Task<Ok<QualityReportDto>> (string project, Guid id, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetReport(user, project, id), ct)))
            .WithSummary("A quality report as JSON")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/quality/reports/{id:guid}/html", async Task<ContentHttpResult> (string project, Guid id, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Content(ReportHtml.Render(await mediator.Send(new GetReport(user, project, id), ct)), "text/html; charset=utf-8"))
            .WithSummary("A quality report as a simple HTML page")
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapPost("/transforms", async Task<Results<Created<DatasetVersionDto>, Ok<DatasetVersionDto>>> (string project, JsonObject body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                Answer(await mediator.Send(new RunTransform(user, project, body), ct)))
            .WithSummary("Run a declared transform {input, steps: [{op: select|rename|filter|derive|join|deduplicate|sample, ...}], output} into a new version (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        project.MapPost("/splits", async Task<Ok<SplitResult>> (string project, SplitRequest body, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new RunSplit(user, project, body.Dataset ?? string.Empty, body.TestFraction ?? 0.2, body.Seed ?? 42, body.TrainName, body.TestName), ct)))
            .WithSummary("Split a version into train and test versions, deterministically by seed (Maintainer)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status403Forbidden)
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity);

        project.MapGet("/lineage", async Task<Ok<LineageGraphDto>> (string project, string? dataset, Guid? run, string? model, int? version, string? endpoint, string? direction, int? depth, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new GetLineage(user, project, dataset, run, model, version, endpoint, direction ?? "both", depth ?? 6), ct)))
            .WithSummary("Lineage graph upstream/downstream of a dataset version, run, model version or endpoint (file → dataset → run → model → endpoint)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);

        project.MapGet("/lineage/events", async Task<Ok<IReadOnlyList<LineageEventDto>>> (string project, Guid? run, int? limit, ClaimsPrincipal user, IMediator mediator, CancellationToken ct) =>
                TypedResults.Ok(await mediator.Send(new ListLineageEvents(user, project, run, limit ?? 200), ct)))
            .WithSummary("The OpenLineage RunEvents kept for the project (with delivery state), oldest first")
            .ProducesProblem(StatusCodes.Status404NotFound);
    }

    private static Results<Created<DatasetVersionDto>, Ok<DatasetVersionDto>> Answer(VersionOutcome outcome) =>
        outcome.Created
            ? TypedResults.Created($"/api/v1/projects/{outcome.Version.Project}/datasets/{outcome.Version.Dataset}/versions/{outcome.Version.Version}", outcome.Version)
            : TypedResults.Ok(outcome.Version);
}
