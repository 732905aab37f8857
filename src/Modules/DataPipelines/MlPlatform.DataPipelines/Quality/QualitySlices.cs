using System.Net;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Domain;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.DataPipelines.Persistence;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.DataPipelines.Quality;

public sealed record SuiteDto(Guid Id, string Project, string Name, int Version, string? Description, JsonElement Rules, DateTimeOffset CreatedAt);

public sealed record CreateSuiteRequest(string? Name, string? Description, JsonArray? Rules);

/// <summary>Stores a suite definition; a second definition under the same name is its next version.</summary>
public sealed record CreateSuite(ClaimsPrincipal Caller, string Project, string Name, string? Description, JsonArray? Rules) : ICommand<SuiteDto>;

public sealed class CreateSuiteValidator : AbstractValidator<CreateSuite>
{
    public CreateSuiteValidator()
    {
        RuleFor(c => c.Name).Matches(DatasetRules.NamePattern()).WithMessage(DatasetRules.NameMessage);
        RuleFor(c => c.Description).MaximumLength(2000);
    }
}

public sealed class CreateSuiteHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer, DatasetService datasets) : ICommandHandler<CreateSuite, SuiteDto>
{
    public async ValueTask<SuiteDto> Handle(CreateSuite command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var rules = QualityRule.ParseAll(command.Rules);
        var normalised = new JsonArray(rules.Select(r => (JsonNode?)r.ToJson()).ToArray()).ToJsonString();
        for (var attempt = 1; ; attempt++)
        {
            var latest = await db.QualitySuites.Where(s => s.ProjectId == access.ProjectId && s.Name == command.Name).MaxAsync(s => (int?)s.Version, cancellationToken) ?? 0;
            var suite = new QualitySuite
            {
                Id = Guid.CreateVersion7(),
                ProjectId = access.ProjectId,
                Name = command.Name,
                Version = latest + 1,
                Description = command.Description,
                Rules = normalised,
                CreatedAt = datasets.Now(),
                CreatedBy = command.Caller.SubjectId(),
            };
            db.QualitySuites.Add(suite);
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return SuiteMapping.ToDto(access.ProjectName, suite);
            }
            catch (DbUpdateException) when (attempt < 5)
            {
                // Another definition took this version number (unique index): take the next.
                db.ChangeTracker.Clear();
            }
        }
    }
}

internal static class SuiteMapping
{
    public static SuiteDto ToDto(string project, QualitySuite s) =>
        new(s.Id, project, s.Name, s.Version, s.Description, DatasetMapping.Element(s.Rules), s.CreatedAt);
}

public sealed record GetSuite(ClaimsPrincipal Caller, string Project, string Reference) : IQuery<SuiteDto>;

public sealed class GetSuiteHandler(IProjectAuthorizer authorizer, QualityService quality) : IQueryHandler<GetSuite, SuiteDto>
{
    public async ValueTask<SuiteDto> Handle(GetSuite query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        return SuiteMapping.ToDto(access.ProjectName, await quality.FindSuiteAsync(access.ProjectId, query.Reference, cancellationToken));
    }
}

public sealed record ListSuites(ClaimsPrincipal Caller, string Project) : IQuery<IReadOnlyList<SuiteDto>>;

/// <summary>The latest version of every suite in the project.</summary>
public sealed class ListSuitesHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListSuites, IReadOnlyList<SuiteDto>>
{
    public async ValueTask<IReadOnlyList<SuiteDto>> Handle(ListSuites query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var all = await db.QualitySuites.AsNoTracking().Where(s => s.ProjectId == access.ProjectId).ToListAsync(cancellationToken);
        return all.GroupBy(s => s.Name).Select(g => g.MaxBy(s => s.Version)!).OrderBy(s => s.Name).Select(s => SuiteMapping.ToDto(access.ProjectName, s)).ToList();
    }
}

public sealed record RunSuiteRequest(string? Dataset, string? Suite);

/// <summary>Runs a suite on a dataset version and stores the report (Maintainer). A failing suite is still a 201: the report says it failed.</summary>
public sealed record RunSuite(ClaimsPrincipal Caller, string Project, string Dataset, string Suite) : ICommand<QualityReportDto>;

public sealed class RunSuiteValidator : AbstractValidator<RunSuite>
{
    public RunSuiteValidator()
    {
        RuleFor(c => c.Dataset).NotEmpty().WithMessage("Name the dataset version: \"dataset\": \"name@version\".");
        RuleFor(c => c.Suite).NotEmpty().WithMessage("Name the suite: \"suite\": \"name\" or \"name@version\".");
    }
}

public sealed class RunSuiteHandler(IProjectAuthorizer authorizer, QualityService quality, DatasetService datasets) : ICommandHandler<RunSuite, QualityReportDto>
{
    public async ValueTask<QualityReportDto> Handle(RunSuite command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var operation = new Operation
        {
            ProjectId = access.ProjectId, ProjectName = access.ProjectName, Job = $"data.validate.{command.Suite}",
            StartedAt = datasets.Now(), CreatedBy = command.Caller.SubjectId(),
        };
        return await quality.RunAsync(access.ProjectId, access.ProjectName, command.Dataset, command.Suite, operation, cancellationToken);
    }
}

/// <summary>A report without its per-rule results, as lists show it.</summary>
public sealed record QualityReportSummaryDto(
    Guid Id, string Suite, int SuiteVersion, string Dataset, int DatasetVersion, string DatasetRef,
    bool Passed, int FailedRules, int Warnings, long Rows, Guid? RunId, DateTimeOffset CreatedAt);

/// <summary>The project's reports, newest first: of a dataset (name, or name@version), of a suite (the same), passed or not.</summary>
public sealed record ListReports(ClaimsPrincipal Caller, string Project, string? Dataset, string? Suite, bool? Passed, int Offset, int Limit) : IQuery<Page<QualityReportSummaryDto>>, IPagedQuery;

public sealed class ListReportsValidator : AbstractValidator<ListReports>
{
    public ListReportsValidator()
    {
        this.Paged();
    }
}

public sealed class ListReportsHandler(DataPipelinesDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListReports, Page<QualityReportSummaryDto>>
{
    public async ValueTask<Page<QualityReportSummaryDto>> Handle(ListReports query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var reports =
            from r in db.QualityReports.AsNoTracking()
            where r.ProjectId == access.ProjectId
            join s in db.QualitySuites on r.SuiteId equals s.Id
            join v in db.DatasetVersions on r.DatasetVersionId equals v.Id
            join d in db.Datasets on v.DatasetId equals d.Id
            // Scalars only: a report's rule results can be large, and a list does not show them.
            select new
            {
                r.Id, r.Passed, r.FailedRules, r.Warnings, r.Rows, r.RunId, r.CreatedAt,
                Suite = s.Name, SuiteVersion = s.Version, Dataset = d.Name, DatasetVersion = v.Version,
            };
        if (query.Dataset is not null)
        {
            var (name, version) = DatasetRules.ParseRef(query.Dataset);
            reports = reports.Where(x => x.Dataset == name && (version == null || x.DatasetVersion == version));
        }

        if (query.Suite is not null)
        {
            var (name, version) = QualityService.ParseSuiteRef(query.Suite);
            reports = reports.Where(x => x.Suite == name && (version == null || x.SuiteVersion == version));
        }

        if (query.Passed is { } passed)
        {
            reports = reports.Where(x => x.Passed == passed);
        }

        var total = await reports.CountAsync(cancellationToken);
        var page = await reports.OrderByDescending(x => x.CreatedAt).ThenByDescending(x => x.Id)
            .Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        var items = page.Select(x => new QualityReportSummaryDto(
            x.Id, x.Suite, x.SuiteVersion, x.Dataset, x.DatasetVersion, $"{x.Dataset}@{x.DatasetVersion}",
            x.Passed, x.FailedRules, x.Warnings, x.Rows, x.RunId, x.CreatedAt)).ToList();
        return new Page<QualityReportSummaryDto>(items, total, query.Offset, query.Limit);
    }
}

public sealed record GetReport(ClaimsPrincipal Caller, string Project, Guid Id) : IQuery<QualityReportDto>;

public sealed class GetReportHandler(IProjectAuthorizer authorizer, QualityService quality) : IQueryHandler<GetReport, QualityReportDto>
{
    public async ValueTask<QualityReportDto> Handle(GetReport query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        return await quality.GetReportAsync(access.ProjectId, access.ProjectName, query.Id, cancellationToken);
    }
}

public sealed record SuggestSuite(ClaimsPrincipal Caller, string Project, string Dataset, int Version) : IQuery<JsonObject>;

public sealed class SuggestSuiteHandler(IProjectAuthorizer authorizer, DatasetService datasets) : IQueryHandler<SuggestSuite, JsonObject>
{
    public async ValueTask<JsonObject> Handle(SuggestSuite query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var (dataset, version) = await datasets.ResolveAsync(access.ProjectId, $"{query.Dataset}@{query.Version}", cancellationToken);
        return new JsonObject
        {
            ["name"] = $"{dataset.Name}-starter",
            ["description"] = $"Suggested from the profile of {dataset.Name}@{version.Version}; review before relying on it.",
            ["rules"] = QualityService.Suggest(version),
        };
    }
}

/// <summary>A report as a small self-contained HTML page (every value HTML-encoded).</summary>
internal static class ReportHtml
{
    public static string Render(QualityReportDto report)
    {
        static string E(string? text) => WebUtility.HtmlEncode(text ?? string.Empty);
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Quality report ").Append(E(report.DatasetRef)).Append("</title>")
            .Append("<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}")
            .Append(".pass{color:#060}.fail{color:#a00}.warn{color:#a60}pre{margin:0}</style></head><body>")
            .Append("<h1>Quality report: ").Append(E(report.Suite)).Append('@').Append(report.SuiteVersion).Append(" on ").Append(E(report.DatasetRef)).Append("</h1>")
            .Append("<p class=\"").Append(report.Passed ? "pass" : "fail").Append("\"><strong>").Append(report.Passed ? "PASSED" : "FAILED").Append("</strong> — ")
            .Append(report.Rows).Append(" rows, ").Append(report.FailedRules).Append(" blocking rule(s) failed, ").Append(report.Warnings).Append(" warning(s). ")
            .Append(E(report.CreatedAt.ToString("u", System.Globalization.CultureInfo.InvariantCulture))).Append("</p>")
            .Append("<table><thead><tr><th>#</th><th>Rule</th><th>Severity</th><th>Result</th><th>Observed</th><th>Failing rows</th><th>Sample of failing rows</th></tr></thead><tbody>");
        foreach (var r in report.Results)
        {
            var css = r.Passed ? "pass" : r.Severity == Severities.Warning ? "warn" : "fail";
            html.Append("<tr><td>").Append(r.Index).Append("</td><td>").Append(E(r.Rule)).Append("</td><td>").Append(E(r.Severity))
                .Append("</td><td class=\"").Append(css).Append("\">").Append(r.Passed ? "pass" : "fail")
                .Append("</td><td><pre>").Append(E(r.Observed?.ToJsonString())).Append("</pre></td><td>").Append(r.FailingRows)
                .Append(" (").Append((r.FailingFraction * 100).ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)).Append("%)</td><td><pre>");
            foreach (var sample in r.Sample)
            {
                html.Append(E(sample.ToJsonString())).Append('\n');
            }

            html.Append("</pre></td></tr>");
        }

        html.Append("</tbody></table></body></html>");
        return html.ToString();
    }
}
