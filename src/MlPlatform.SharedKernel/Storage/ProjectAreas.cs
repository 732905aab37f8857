namespace MlPlatform.SharedKernel.Storage;

/// <summary>
/// The parts of the object store that belong to one project. The store has no owners of its own: a
/// key's prefix is the only thing that says whose a file is, so every module that takes a key from a
/// caller (a dataset source, a model artifact, a batch input or output, training data) holds it to
/// these, and another project's file stays out of reach whichever route names it.
/// </summary>
/// <param name="RunId">Inside a workflow step: the run, whose folder the step may also use.</param>
public sealed record ProjectAreas(Guid ProjectId, string? ProjectName, Guid? RunId = null)
{
    /// <summary>
    /// What the project may read: files its people and tools put under <c>projects/{name or id}/</c>,
    /// its dataset versions (<c>datasets/{id}/</c>), its registered model files (<c>models/{id}/</c>),
    /// its batch predictions (<c>predictions/{id}/</c>) and a step's run folder.
    /// </summary>
    public IReadOnlyList<string> Readable =>
        [.. Writable, $"datasets/{ProjectId:N}/", $"models/{ProjectId:N}/"];

    /// <summary>
    /// What the project may write: the readable areas less the dataset versions and model files, which
    /// only their modules write (they are immutable records of what was registered).
    /// </summary>
    public IReadOnlyList<string> Writable
    {
        get
        {
            List<string> areas = [$"projects/{ProjectId:N}/", $"predictions/{ProjectId:N}/"];
            // A name spelled like a project id would claim that project's projects/{id}/ area.
            if (ProjectName is not null && !(ProjectName.Length == 32 && Guid.TryParseExact(ProjectName, "N", out _)))
            {
                areas.Add($"projects/{ProjectName}/");
            }

            if (RunId is { } run)
            {
                areas.AddRange([$"runs/{run}/", $"runs/{run:N}/"]);
            }

            return areas;
        }
    }

    /// <summary>Whether a well-formed key (<see cref="ObjectKey.Validate"/>) lies in a readable area.</summary>
    public bool CanRead(string key) => In(Readable, key);

    /// <summary>Whether a well-formed key (<see cref="ObjectKey.Validate"/>) lies in a writable area.</summary>
    public bool CanWrite(string key) => In(Writable, key);

    private static bool In(IReadOnlyList<string> areas, string key) =>
        areas.Any(prefix => key.StartsWith(prefix, StringComparison.Ordinal));
}
