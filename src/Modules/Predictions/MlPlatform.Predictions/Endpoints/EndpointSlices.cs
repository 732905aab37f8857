using System.Globalization;
using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.Predictions.Endpoints;

internal static class EndpointLookup
{
    /// <summary>The project's endpoint by name; another project's endpoint is as absent as a missing one (404).</summary>
    public static async Task<ServingEndpoint> FindAsync(PredictionsDbContext db, Guid projectId, string name, CancellationToken cancellationToken, bool tracked = false)
    {
        var endpoints = tracked ? db.Endpoints : db.Endpoints.AsNoTracking();
        return await endpoints.Include(e => e.Variants).SingleOrDefaultAsync(e => e.ProjectId == projectId && e.Name == name, cancellationToken)
            ?? throw new NotFoundException("Endpoint", name);
    }

    public static EndpointDto ToDto(ServingEndpoint e, EndpointRouter router, ModelSessions sessions)
    {
        var table = router.Tables.FirstOrDefault(t => t.Id == e.Id);
        var variants = e.Variants
            .OrderBy(v => v.Shadow).ThenBy(v => v.Name, StringComparer.Ordinal)
            .Select(v =>
            {
                var live = table?.All.FirstOrDefault(x => x.Name == v.Name && x.Shadow == v.Shadow);
                return new VariantDto(v.Name, v.Model, v.Version, v.Alias, v.VersionStatus, v.Weight, v.Shadow, sessions.IsLoaded(v.Sha256), live?.RequestCount ?? 0, live?.ErrorCount ?? 0);
            })
            .ToList();
        ShadowStatsDto? shadow = null;
        if (table?.ShadowStats is { } s && e.Variants.Any(v => v.Shadow))
        {
            shadow = new ShadowStatsDto(s.Runs, s.Failures, s.Skipped, s.Runs == 0 ? 0 : s.TotalMilliseconds / s.Runs, s.MaxDifference, s.Runs == 0 ? 0 : s.SumDifference / s.Runs);
        }

        return new EndpointDto(
            e.Id,
            e.ProjectName,
            e.Name,
            e.Description,
            e.Production,
            e.Revision,
            variants,
            new CacheSpec(e.CacheEnabled, e.CacheMaxEntries),
            new BatchingSpec(e.BatchingEnabled, e.MaxBatchSize, e.MaxBatchDelayMicroseconds / 1000.0),
            e.MaxQueue,
            e.MaxConcurrency,
            shadow,
            e.CreatedAt,
            e.UpdatedAt);
    }
}

/// <summary>The checks create and replace share; weights and versions that need the registry are checked by the writer.</summary>
public sealed class EndpointSpecValidator : AbstractValidator<EndpointSpec>
{
    public EndpointSpecValidator()
    {
        RuleFor(s => s.Name).NotEmpty().Matches(EndpointRules.NamePattern()).WithMessage(EndpointRules.NameMessage)
            .NotEqual(EndpointRules.ReservedName).WithMessage($"'{EndpointRules.ReservedName}' is reserved: GET /v2/models/{EndpointRules.ReservedName} answers every endpoint's statistics.");
        RuleFor(s => s.Description).MaximumLength(2000);
        RuleFor(s => s.Variants).NotEmpty().WithMessage("At least one variant is required.")
            .Must(v => v is null || v.All(x => x is not null)).WithMessage("Every variant is an object with a model and a version or an alias.")
            .Must(v => v is null || v.Count <= EndpointRules.MaxVariants).WithMessage($"At most {EndpointRules.MaxVariants} variants.")
            .Must(v => v is null || v.Select(x => x?.Name ?? x?.Model).Distinct(StringComparer.Ordinal).Count() == v.Count).WithMessage("Variant names must be unique (a variant without a name takes its model's name).");
        RuleForEach(s => s.Variants).SetValidator(new VariantSpecValidator(shadow: false));
        RuleFor(s => s.Shadow!).SetValidator(new VariantSpecValidator(shadow: true)).When(s => s.Shadow is not null);
        RuleFor(s => s.Variants)
            .Must(v => v!.Count != 1 || v[0].Weight is null or 100).WithMessage("A single variant takes all the traffic: weight 100 or none.")
            .Must(v => v!.Count < 2 || v.All(x => x.Weight is not null)).WithMessage("With several variants every one needs a weight.")
            .Must(v => v!.Count < 2 || v.All(x => x.Weight is null) || v.Sum(x => x.Weight ?? 0) == 100).WithMessage("The weights must add up to 100.")
            .When(s => s.Variants is { Count: > 0 } && s.Variants.All(x => x is not null));
        RuleFor(s => s.Batching!.MaxBatchSize).InclusiveBetween(1, EndpointRules.MaxBatchSize).When(s => s.Batching?.MaxBatchSize is not null);
        RuleFor(s => s.Batching!.MaxDelayMs).InclusiveBetween(0, EndpointRules.MaxDelayMs).When(s => s.Batching?.MaxDelayMs is not null);
        RuleFor(s => s.Cache!.MaxEntries).InclusiveBetween(1, 1_000_000).When(s => s.Cache?.MaxEntries is not null);
        RuleFor(s => s.MaxQueue).InclusiveBetween(0, 1_000_000).When(s => s.MaxQueue is not null);
        RuleFor(s => s.MaxConcurrency).InclusiveBetween(0, 10_000).When(s => s.MaxConcurrency is not null);
    }
}

public sealed class VariantSpecValidator : AbstractValidator<VariantSpec>
{
    public VariantSpecValidator(bool shadow)
    {
        RuleFor(v => v.Name).Matches(EndpointRules.NamePattern()).WithMessage(EndpointRules.NameMessage).When(v => v.Name is not null);
        RuleFor(v => v.Model).NotEmpty().Matches(EndpointRules.NamePattern()).WithMessage("The model name is required and must be a registry model name.");
        RuleFor(v => v).Must(v => (v.Version is null) != (v.Alias is null)).WithMessage("Give exactly one of 'version' and 'alias'.").WithName("version");
        RuleFor(v => v.Version).Must(v => int.TryParse(EndpointWriter.VersionText(v), NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0)
            .WithMessage("'version' must be a positive version number.").When(v => v.Version is not null);
        RuleFor(v => v.Alias).Matches("^[a-z][a-z0-9_-]{0,62}$").WithMessage("Aliases are lower-case and start with a letter.").When(v => v.Alias is not null);
        if (shadow)
        {
            RuleFor(v => v.Weight).Must(w => w is null or 0).WithMessage("The shadow takes a copy of the traffic; it has no weight.");
        }
        else
        {
            RuleFor(v => v.Weight).InclusiveBetween(0, 100).When(v => v.Weight is not null);
        }
    }
}

public sealed record CreateEndpoint(ClaimsPrincipal Caller, string Project, EndpointSpec Spec) : ICommand<EndpointDto>;

public sealed class CreateEndpointValidator : AbstractValidator<CreateEndpoint>
{
    public CreateEndpointValidator() => RuleFor(c => c.Spec).SetValidator(new EndpointSpecValidator());
}

public sealed class CreateEndpointHandler(IProjectAuthorizer authorizer, EndpointWriter writer, EndpointRouter router, ModelSessions sessions) : ICommandHandler<CreateEndpoint, EndpointDto>
{
    public async ValueTask<EndpointDto> Handle(CreateEndpoint command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var endpoint = await writer.CreateAsync(access.ProjectId, access.ProjectName, command.Spec, command.Caller.SubjectId(), cancellationToken);
        return EndpointLookup.ToDto(endpoint, router, sessions);
    }
}

public sealed record ReplaceEndpoint(ClaimsPrincipal Caller, string Project, string Name, EndpointSpec Spec) : ICommand<EndpointDto>;

public sealed class ReplaceEndpointValidator : AbstractValidator<ReplaceEndpoint>
{
    public ReplaceEndpointValidator()
    {
        RuleFor(c => c.Spec).SetValidator(new EndpointSpecValidator());
        RuleFor(c => c.Spec.Name).Equal(c => c.Name).WithMessage("The name in the body must be the endpoint's name (endpoints are not renamed).").When(c => c.Spec.Name is not null);
    }
}

public sealed class ReplaceEndpointHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, EndpointWriter writer, EndpointRouter router, ModelSessions sessions) : ICommandHandler<ReplaceEndpoint, EndpointDto>
{
    public async ValueTask<EndpointDto> Handle(ReplaceEndpoint command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var endpoint = await EndpointLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken, tracked: true);
        await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        await writer.ReplaceAsync(endpoint, command.Spec, command.Caller.SubjectId(), cancellationToken);
        return EndpointLookup.ToDto(endpoint, router, sessions);
    }
}

public sealed record SetWeights(ClaimsPrincipal Caller, string Project, string Name, IReadOnlyDictionary<string, int> Weights) : ICommand<EndpointDto>;

public sealed class SetWeightsValidator : AbstractValidator<SetWeights>
{
    public SetWeightsValidator()
    {
        RuleFor(c => c.Weights).NotEmpty().WithMessage("Send {\"weights\": {\"variant\": percent, ...}}.");
        RuleForEach(c => c.Weights).Must(w => w.Value is >= 0 and <= 100).WithMessage("Each weight is a percentage from 0 to 100.");
    }
}

public sealed class SetWeightsHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, EndpointWriter writer, EndpointRouter router, ModelSessions sessions) : ICommandHandler<SetWeights, EndpointDto>
{
    public async ValueTask<EndpointDto> Handle(SetWeights command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var endpoint = await EndpointLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken, tracked: true);
        await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        await writer.SetWeightsAsync(endpoint, command.Weights, command.Caller.SubjectId(), cancellationToken);
        return EndpointLookup.ToDto(endpoint, router, sessions);
    }
}

public sealed record DeleteEndpoint(ClaimsPrincipal Caller, string Project, string Name) : ICommand;

public sealed class DeleteEndpointHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, EndpointWriter writer) : ICommandHandler<DeleteEndpoint>
{
    public async ValueTask<Unit> Handle(DeleteEndpoint command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var endpoint = await EndpointLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken, tracked: true);
        await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        await writer.DeleteAsync(endpoint, cancellationToken);
        return Unit.Value;
    }
}

public sealed record GetEndpoint(ClaimsPrincipal Caller, string Project, string Name) : IQuery<EndpointDto>;

public sealed class GetEndpointHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, EndpointRouter router, ModelSessions sessions) : IQueryHandler<GetEndpoint, EndpointDto>
{
    public async ValueTask<EndpointDto> Handle(GetEndpoint query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var endpoint = await EndpointLookup.FindAsync(db, access.ProjectId, query.Name, cancellationToken);
        return EndpointLookup.ToDto(endpoint, router, sessions);
    }
}

public sealed record ListEndpoints(ClaimsPrincipal Caller, string Project, int Offset, int Limit) : IQuery<Page<EndpointDto>>, IPagedQuery;

public sealed class ListEndpointsValidator : AbstractValidator<ListEndpoints>
{
    public ListEndpointsValidator()
    {
        this.Paged();
    }
}

public sealed class ListEndpointsHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, EndpointRouter router, ModelSessions sessions) : IQueryHandler<ListEndpoints, Page<EndpointDto>>
{
    public async ValueTask<Page<EndpointDto>> Handle(ListEndpoints query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var all = db.Endpoints.AsNoTracking().Where(e => e.ProjectId == access.ProjectId);
        var total = await all.CountAsync(cancellationToken);
        var items = await all.Include(e => e.Variants).OrderBy(e => e.Name).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<EndpointDto>(items.Select(e => EndpointLookup.ToDto(e, router, sessions)).ToList(), total, query.Offset, query.Limit);
    }
}
