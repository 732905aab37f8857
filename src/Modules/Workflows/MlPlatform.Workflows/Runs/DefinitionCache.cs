using System.Collections.Concurrent;
using Microsoft.EntityFrameworkCore;
using MlPlatform.Workflows.Definitions;
using MlPlatform.Workflows.Persistence;

namespace MlPlatform.Workflows.Runs;

/// <summary>
/// Parsed definitions by version id. Versions are immutable, so an entry never goes stale; every
/// attempt of a run needs its definition, and parsing it each time would cost more than the step.
/// </summary>
public sealed class DefinitionCache
{
    private const int MaxEntries = 1_000;
    private readonly ConcurrentDictionary<Guid, WorkflowDefinition> _definitions = new();

    public async ValueTask<WorkflowDefinition> GetAsync(WorkflowsDbContext db, Guid versionId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(db);
        return TryGet(versionId) ?? await LoadAsync(db, versionId, cancellationToken);
    }

    /// <summary>The definition if it is cached; callers that need a database context only to load it check here first.</summary>
    public WorkflowDefinition? TryGet(Guid versionId) => _definitions.GetValueOrDefault(versionId);

    private async Task<WorkflowDefinition> LoadAsync(WorkflowsDbContext db, Guid versionId, CancellationToken cancellationToken)
    {
        var json = await db.WorkflowVersions.AsNoTracking().Where(v => v.Id == versionId).Select(v => v.Definition).SingleAsync(cancellationToken);
        var definition = DefinitionProcessor.Load(json);
        if (_definitions.Count >= MaxEntries)
        {
            // Crude but bounded: the working set is the versions of the active runs, rebuilt on demand.
            _definitions.Clear();
        }

        _definitions[versionId] = definition;
        return definition;
    }
}
