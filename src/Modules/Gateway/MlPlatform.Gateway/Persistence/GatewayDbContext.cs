using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Gateway.Persistence;

public sealed class GatewayDbContext(DbContextOptions<GatewayDbContext> options) : ModuleDbContext(options)
{
    public const string SchemaName = "gateway";

    public override string Schema => SchemaName;
}
