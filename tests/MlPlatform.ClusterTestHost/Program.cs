using MlPlatform.ClusterTestHost;
using MlPlatform.Host;

// The platform host with one extra module whose jobs record where and when they ran.
var app = PlatformHost.Build(args, extraModules: [new ProbeModule()]);
await PlatformHost.RunAsync(app);
