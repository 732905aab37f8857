using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Predictions.Persistence;

public sealed class PredictionsDbContext(DbContextOptions<PredictionsDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "prediction";

    public override string Schema => SchemaName;
}
