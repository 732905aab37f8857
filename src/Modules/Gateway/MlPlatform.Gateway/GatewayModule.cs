using MlPlatform.Gateway.Persistence;
using MlPlatform.SharedKernel.Modules;

namespace MlPlatform.Gateway;

public sealed class GatewayModule : Module<GatewayDbContext>
{
    public override string Name => "Gateway";

    public override string Schema => GatewayDbContext.SchemaName;
}
