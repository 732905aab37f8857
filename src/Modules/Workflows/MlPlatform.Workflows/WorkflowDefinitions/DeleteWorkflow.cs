using System.Security.Claims;
using Mediator;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.WorkflowDefinitions;

/// <summary>
/// Soft delete: the workflow disappears from the API and its name is free again, but its versions
/// stay so runs pinned to them can still be read and finished.
/// </summary>
public sealed record DeleteWorkflow(ClaimsPrincipal Caller, string Project, string Name) : ICommand<Unit>;

public sealed class DeleteWorkflowHandler(WorkflowsDbContext db, IProjectAuthorizer authorizer, TimeProvider clock) : ICommandHandler<DeleteWorkflow, Unit>
{
    private const int MaxAttempts = 5;

    public async ValueTask<Unit> Handle(DeleteWorkflow command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        for (var attempt = 1; ; attempt++)
        {
            db.ChangeTracker.Clear();
            var workflow = await db.Workflows
                .SingleOrDefaultAsync(w => w.ProjectId == access.ProjectId && w.Name == command.Name && w.DeletedAt == null, cancellationToken)
                ?? throw new NotFoundException("Workflow", command.Name);
            workflow.DeletedAt = clock.GetUtcNow();
            workflow.DeletedBy = command.Caller.SubjectId();
            await Schedules.ScheduleSync.RemoveAsync(db, workflow.Id, cancellationToken);
            db.EventTriggers.RemoveRange(await db.EventTriggers.Where(t => t.WorkflowId == workflow.Id).ToListAsync(cancellationToken));
            try
            {
                await db.SaveChangesAsync(cancellationToken);
                return Unit.Value;
            }
            catch (DbUpdateConcurrencyException) when (attempt < MaxAttempts)
            {
                // A version was added (or the workflow deleted) meanwhile: look again.
            }
        }
    }
}
