using System.Text.RegularExpressions;
using MlPlatform.ModelRegistry.Domain;
using MlPlatform.ModelRegistry.Persistence;
using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.ModelRegistry.Models;

public static partial class ModelRules
{
    /// <summary>Model names go into URLs, object keys and headers: lower-case letters, digits, '.', '_' and '-'.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._-]{0,62}\z")]
    public static partial Regex NamePattern();

    /// <summary>Tags: the same safe characters plus ':' (key:value tags), 1 to 63 of them.</summary>
    [GeneratedRegex(@"^[a-z0-9][a-z0-9._:-]{0,62}\z")]
    public static partial Regex TagPattern();

    /// <summary>Aliases start with a letter, so an alias can never be mistaken for a version number.</summary>
    [GeneratedRegex(@"^[a-z][a-z0-9_-]{0,62}\z")]
    public static partial Regex AliasPattern();

    public const string NameMessage = "The model name must be 1 to 63 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit.";

    public const string TagMessage = "Tags must be 1 to 63 lower-case letters, digits, '.', '_', ':' or '-', starting with a letter or digit.";

    public const string AliasMessage = "Aliases must be 1 to 63 lower-case letters, digits, '_' or '-', starting with a letter.";

    public const int MaxTags = 32;
}

internal static class ModelLookup
{
    public static async Task<RegisteredModel> FindAsync(ModelRegistryDbContext db, Guid projectId, string name, CancellationToken cancellationToken, bool tracked = false)
    {
        var models = tracked ? db.Models : db.Models.AsNoTracking();
        return await models.SingleOrDefaultAsync(m => m.ProjectId == projectId && m.Name == name, cancellationToken)
            ?? throw new NotFoundException("Model", name);
    }

    public static async Task<ModelVersion> FindVersionAsync(ModelRegistryDbContext db, RegisteredModel model, int version, CancellationToken cancellationToken, bool tracked = false)
    {
        var versions = tracked ? db.ModelVersions : db.ModelVersions.AsNoTracking();
        return await versions.SingleOrDefaultAsync(v => v.ModelId == model.Id && v.Version == version, cancellationToken)
            ?? throw new NotFoundException("Model version", $"{model.Name}/{version}");
    }

    /// <summary>Whole milliseconds: what SQLite stores, so an answer equals a later read.</summary>
    public static DateTimeOffset Now(TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        return now.AddTicks(-(now.Ticks % TimeSpan.TicksPerMillisecond));
    }
}
