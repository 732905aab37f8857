using System.Security.Claims;
using FluentValidation;
using Mediator;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.Predictions.Domain;
using MlPlatform.Predictions.Endpoints;
using MlPlatform.Predictions.Persistence;
using MlPlatform.Predictions.Runtime;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.SharedKernel.Paging;
using MlPlatform.SharedKernel.Storage;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.Predictions.Batch;

public sealed record BatchRequest(string? Input, string? Output);

/// <param name="Attempts">Starts of the job: 1, plus one for each time its host was lost and another host started it again.</param>
public sealed record BatchJobDto(Guid Id, string Endpoint, string Input, string Output, string State, long Rows, long BytesRead, long InputBytes, double Progress, string? Error, DateTimeOffset CreatedAt, DateTimeOffset? FinishedAt, int Attempts)
{
    public static BatchJobDto From(BatchJob j) => new(
        j.Id, j.Endpoint, j.InputKey, j.OutputKey, j.State, j.Rows, j.BytesRead, j.InputBytes,
        j.InputBytes == 0 ? (j.State == "succeeded" ? 1 : 0) : Math.Min(1, (double)j.BytesRead / j.InputBytes), j.Error, j.CreatedAt, j.FinishedAt, j.Attempts);
}

public sealed record StartBatch(ClaimsPrincipal Caller, string Project, string Name, string Input, string? Output) : ICommand<BatchJobDto>;

/// <summary>Starts a batch job on this host and answers at once; the job records its progress as it goes.</summary>
public sealed class StartBatchHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, EndpointRouter router, BatchJobs jobs, IObjectStore store, TimeProvider clock) : ICommandHandler<StartBatch, BatchJobDto>
{
    public async ValueTask<BatchJobDto> Handle(StartBatch command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var endpoint = await EndpointLookup.FindAsync(db, access.ProjectId, command.Name, cancellationToken);
        await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var id = Guid.CreateVersion7();
        var output = string.IsNullOrEmpty(command.Output)
            ? $"predictions/{access.ProjectId:N}/{endpoint.Name}/{id:N}{(BatchPredictor.IsCsv(command.Input) ? ".csv" : ".jsonl")}"
            : command.Output;
        BatchPredictor.CheckKeys(command.Input, output, access.ProjectId, access.ProjectName, runId: null);
        // A missing input is the caller's to know now, not a job that fails a moment later.
        _ = await store.GetInfoAsync(command.Input, cancellationToken) ?? throw new NotFoundException("Object", command.Input);
        _ = await router.GetAsync(endpoint.Name, cancellationToken) ?? throw new NotFoundException("Endpoint", endpoint.Name);
        var job = new BatchJob
        {
            Id = id,
            ProjectId = access.ProjectId,
            EndpointId = endpoint.Id,
            Endpoint = endpoint.Name,
            InputKey = command.Input,
            OutputKey = output,
            State = "queued",
            CreatedAt = clock.GetUtcNow(),
            CreatedBy = command.Caller.SubjectId(),
        };
        db.BatchJobs.Add(job);
        await db.SaveChangesAsync(cancellationToken);
        jobs.Start(job.Id);
        return BatchJobDto.From(job);
    }
}

public sealed record GetBatch(ClaimsPrincipal Caller, string Project, string Name, Guid Id) : IQuery<BatchJobDto>;

public sealed class GetBatchHandler(PredictionsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<GetBatch, BatchJobDto>
{
    public async ValueTask<BatchJobDto> Handle(GetBatch query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        var job = await db.BatchJobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == query.Id && j.ProjectId == access.ProjectId && j.Endpoint == query.Name, cancellationToken)
            ?? throw new NotFoundException("Batch prediction", query.Id.ToString());
        return BatchJobDto.From(job);
    }
}

/// <summary>An endpoint's batch jobs, newest first; <paramref name="State"/> keeps one state only.</summary>
public sealed record ListBatches(ClaimsPrincipal Caller, string Project, string Name, string? State, int Offset, int Limit) : IQuery<Page<BatchJobDto>>, IPagedQuery;

public sealed class ListBatchesValidator : AbstractValidator<ListBatches>
{
    public ListBatchesValidator()
    {
        this.Paged();
        RuleFor(q => q.State).Must(s => s is null || BatchStates.All.Contains(s))
            .WithMessage($"'state' is one of {string.Join(", ", BatchStates.All)}.");
    }
}

public sealed class ListBatchesHandler(PredictionsDbContext db, IProjectAuthorizer authorizer) : IQueryHandler<ListBatches, Page<BatchJobDto>>
{
    public async ValueTask<Page<BatchJobDto>> Handle(ListBatches query, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(query.Caller, query.Project, Permission.Read, cancellationToken);
        // By the name the jobs were started under, as a read by id is: the jobs of a deleted endpoint stay listed.
        var jobs = db.BatchJobs.AsNoTracking().Where(j => j.ProjectId == access.ProjectId && j.Endpoint == query.Name);
        if (query.State is not null)
        {
            jobs = jobs.Where(j => j.State == query.State);
        }

        var total = await jobs.CountAsync(cancellationToken);
        var items = await jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Skip(query.Offset).Take(query.Limit).ToListAsync(cancellationToken);
        return new Page<BatchJobDto>(items.Select(BatchJobDto.From).ToList(), total, query.Offset, query.Limit);
    }
}

public sealed record CancelBatch(ClaimsPrincipal Caller, string Project, string Name, Guid Id) : ICommand<BatchJobDto>;

/// <summary>
/// Ends a queued or running job as cancelled. The state change takes the job's lease away, so its
/// host stops at its next progress report or lease renewal without writing the output; only a job
/// cancelled in the moment after it wrote its output keeps that (whole) output.
/// </summary>
public sealed class CancelBatchHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, TimeProvider clock) : ICommandHandler<CancelBatch, BatchJobDto>
{
    public async ValueTask<BatchJobDto> Handle(CancelBatch command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var jobs = db.BatchJobs.Where(j => j.Id == command.Id && j.ProjectId == access.ProjectId && j.Endpoint == command.Name);
        var state = await jobs.Select(j => j.State).SingleOrDefaultAsync(cancellationToken)
            ?? throw new NotFoundException("Batch prediction", command.Id.ToString());
        await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var now = clock.GetUtcNow();
        var cancelled = await jobs.Where(j => j.State == BatchStates.Queued || j.State == BatchStates.Running).ExecuteUpdateAsync(
            u => u.SetProperty(j => j.State, BatchStates.Cancelled)
                .SetProperty(j => j.Error, "Cancelled.")
                .SetProperty(j => j.FinishedAt, now)
                .SetProperty(j => j.LeaseOwner, (string?)null)
                .SetProperty(j => j.LeaseExpiresAt, (DateTimeOffset?)null),
            cancellationToken);
        // Deleted meanwhile: a 404, as it would be a moment later.
        var job = await jobs.AsNoTracking().SingleOrDefaultAsync(cancellationToken)
            ?? throw new NotFoundException("Batch prediction", command.Id.ToString());
        if (cancelled == 0)
        {
            throw new ConflictException($"The batch prediction has already ended ({job.State}).");
        }

        return BatchJobDto.From(job);
    }
}

public sealed record DeleteBatch(ClaimsPrincipal Caller, string Project, string Name, Guid Id) : ICommand<Unit>;

/// <summary>
/// Removes an ended job and the output object it wrote (409 while it is queued or running: cancel it
/// first). Only a job that succeeded wrote its output; a failed or cancelled one may name a file that
/// was there before, which stays. The object goes first, so a failure leaves the job to delete again;
/// an object another of the project's jobs also uses stays.
/// </summary>
public sealed class DeleteBatchHandler(PredictionsDbContext db, IProjectAuthorizer authorizer, IObjectStore store) : ICommandHandler<DeleteBatch, Unit>
{
    public async ValueTask<Unit> Handle(DeleteBatch command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Read, cancellationToken);
        var job = await db.BatchJobs.AsNoTracking().SingleOrDefaultAsync(j => j.Id == command.Id && j.ProjectId == access.ProjectId && j.Endpoint == command.Name, cancellationToken)
            ?? throw new NotFoundException("Batch prediction", command.Id.ToString());
        await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        if (job.State is BatchStates.Queued or BatchStates.Running)
        {
            throw new ConflictException($"The batch prediction is {job.State}: cancel it first.");
        }

        if (job.State == BatchStates.Succeeded && !await BatchOutputs.SharedAsync(db, job, cancellationToken))
        {
            await store.DeleteAsync(job.OutputKey, cancellationToken);
        }

        await db.BatchJobs.Where(j => j.Id == job.Id).ExecuteDeleteAsync(cancellationToken);
        return Unit.Value;
    }
}

internal static class BatchOutputs
{
    /// <summary>Whether another of the project's jobs writes the job's output object too, or reads it as its input.</summary>
    public static Task<bool> SharedAsync(PredictionsDbContext db, BatchJob job, CancellationToken cancellationToken) =>
        db.BatchJobs.AnyAsync(j => j.ProjectId == job.ProjectId && j.Id != job.Id && (j.OutputKey == job.OutputKey || j.InputKey == job.OutputKey), cancellationToken);
}
