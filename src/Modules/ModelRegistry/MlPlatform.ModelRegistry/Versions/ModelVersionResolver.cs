using System.Globalization;
using Microsoft.EntityFrameworkCore;
using MlPlatform.ModelRegistry.Contracts;
using MlPlatform.ModelRegistry.Persistence;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>One query: the model by name, then the version by number or through the alias.</summary>
internal sealed class ModelVersionResolver(ModelRegistryDbContext db) : IModelVersionResolver
{
    public async Task<ResolvedModelVersion?> ResolveAsync(Guid projectId, string model, string versionOrAlias, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(versionOrAlias);
        var query =
            from m in db.Models.AsNoTracking()
            join v in db.ModelVersions.AsNoTracking() on m.Id equals v.ModelId
            where m.ProjectId == projectId && m.Name == model
            select new { m, v };
        // Aliases start with a letter, so a number is always a version.
        if (int.TryParse(versionOrAlias, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
        {
            query = query.Where(x => x.v.Version == number);
        }
        else
        {
            query = query.Where(x => db.Aliases.Any(a => a.ModelId == x.m.Id && a.Alias == versionOrAlias && a.Version == x.v.Version));
        }

        var found = await query.Select(x => new ResolvedModelVersion(
                x.m.ProjectId, x.m.Id, x.m.Name, x.v.Version, x.v.Status, x.v.ArtifactKey, x.v.ArtifactUri, x.v.Sha256, x.v.SizeBytes, x.v.Signature, x.v.ArchivedAt))
            .SingleOrDefaultAsync(cancellationToken);
        return found;
    }
}
