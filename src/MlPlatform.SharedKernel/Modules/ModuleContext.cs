using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.SharedKernel.Modules;

/// <summary>What a module may know about the host that loads it.</summary>
public sealed record ModuleContext(IConfiguration Configuration, IHostEnvironment Environment, DatabaseSettings Database);
