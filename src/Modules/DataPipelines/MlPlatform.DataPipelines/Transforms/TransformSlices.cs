using System.Security.Claims;
using System.Text.Json.Nodes;
using Mediator;
using MlPlatform.DataPipelines.Datasets;
using MlPlatform.DataPipelines.Lineage;
using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.DataPipelines.Transforms;

public sealed record RunTransform(ClaimsPrincipal Caller, string Project, JsonObject Spec) : ICommand<VersionOutcome>;

public sealed class RunTransformHandler(IProjectAuthorizer authorizer, TransformService transforms, DatasetService datasets) : ICommandHandler<RunTransform, VersionOutcome>
{
    public async ValueTask<VersionOutcome> Handle(RunTransform command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var output = command.Spec["output"] is JsonValue v && v.TryGetValue<string>(out var name) ? name : "?";
        var operation = new Operation
        {
            ProjectId = access.ProjectId, ProjectName = access.ProjectName, Job = $"data.transform.{output}",
            StartedAt = datasets.Now(), CreatedBy = command.Caller.SubjectId(),
        };
        return await transforms.TransformAsync(access.ProjectId, access.ProjectName, command.Spec, operation, cancellationToken);
    }
}

public sealed record SplitResult(DatasetVersionDto Train, DatasetVersionDto Test);

public sealed record RunSplit(ClaimsPrincipal Caller, string Project, string Dataset, double TestFraction, long Seed, string? TrainName, string? TestName) : ICommand<SplitResult>;

public sealed class RunSplitHandler(IProjectAuthorizer authorizer, TransformService transforms, DatasetService datasets) : ICommandHandler<RunSplit, SplitResult>
{
    public async ValueTask<SplitResult> Handle(RunSplit command, CancellationToken cancellationToken)
    {
        var access = await authorizer.AuthorizeAsync(command.Caller, command.Project, Permission.Write, cancellationToken);
        var operation = new Operation
        {
            ProjectId = access.ProjectId, ProjectName = access.ProjectName, Job = "data.split",
            StartedAt = datasets.Now(), CreatedBy = command.Caller.SubjectId(),
        };
        var outcome = await transforms.SplitAsync(access.ProjectId, access.ProjectName, command.Dataset, command.TestFraction, command.Seed, command.TrainName, command.TestName, operation, cancellationToken);
        return new SplitResult(outcome.Train.Version, outcome.Test.Version);
    }
}
