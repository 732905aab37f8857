using MlPlatform.Predictions.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.Predictions;

public sealed class PredictionsModule : Module<PredictionsDbContext>
{
    public override string Name => "Predictions";

    public override string Schema => PredictionsDbContext.SchemaName;
}
