using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Errors;

namespace MlPlatform.ModelRegistry.Versions;

/// <summary>
/// Saving a change judged on a version's row version (the lock shared with alias moves, decisions,
/// archives and metrics): true when saved; false when someone else's change committed since the
/// read and tries remain (read again and judge anew); 409 with <paramref name="conflict"/> when none do.
/// </summary>
internal static class VersionSave
{
    public static async Task<bool> TrySaveAsync(DbContext db, int attempt, int maxAttempts, string conflict, CancellationToken cancellationToken)
    {
        try
        {
            await db.SaveChangesAsync(cancellationToken);
            return true;
        }
        catch (DbUpdateConcurrencyException) when (attempt < maxAttempts)
        {
            return false;
        }
        catch (DbUpdateConcurrencyException)
        {
            throw new ConflictException(conflict);
        }
    }
}
