using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.SharedKernel.Storage;

public static class StorageRegistration
{
    /// <summary>
    /// <c>Storage:Provider</c> = Local (default; <c>Storage:Local:Path</c>, default &lt;data&gt;/artifacts) or S3
    /// (<c>Storage:S3:*</c>, see <see cref="S3StoreSettings"/>). Settings are checked here, so a bad value
    /// stops start-up naming the setting; the store itself connects only when first used.
    /// </summary>
    public static IServiceCollection AddObjectStore(this IServiceCollection services, IConfiguration configuration, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var provider = configuration["Storage:Provider"];
        if (string.IsNullOrWhiteSpace(provider) || provider.Trim().Equals("Local", StringComparison.OrdinalIgnoreCase))
        {
            var localPath = configuration["Storage:Local:Path"];
            var root = string.IsNullOrWhiteSpace(localPath) ? Path.Combine(dataDirectory, "artifacts") : localPath;
            services.AddSingleton<IObjectStore>(_ => new LocalObjectStore(root));
        }
        else if (provider.Trim().Equals("S3", StringComparison.OrdinalIgnoreCase))
        {
            var settings = S3StoreSettings.Read(configuration);
            services.AddSingleton(settings);
            services.AddSingleton<IObjectStore>(sp => new S3ObjectStore(settings, sp.GetService<ILogger<S3ObjectStore>>()));
        }
        else
        {
            throw new InvalidConfigurationException("Storage:Provider", $"'{provider}' is not Local or S3.");
        }

        return services;
    }
}
