using Microsoft.Extensions.Configuration;
using MlPlatform.SharedKernel.Configuration;

namespace MlPlatform.ModelRegistry;

/// <summary><c>ModelRegistry:*</c> settings, read and checked once at start.</summary>
public sealed record ModelRegistrySettings(long MaxUploadBytes, bool RequireTwoPersonApproval)
{
    /// <summary>Default upload limit: 1 GiB, room for most tabular and vision models.</summary>
    public const long DefaultMaxUploadBytes = 1L << 30;

    public static ModelRegistrySettings Read(IConfiguration configuration)
    {
        var section = configuration.GetSection("ModelRegistry");
        var max = DefaultMaxUploadBytes;
        if (section["MaxUploadBytes"] is { Length: > 0 } text && (!long.TryParse(text, out max) || max <= 0))
        {
            throw new InvalidConfigurationException("ModelRegistry:MaxUploadBytes", $"'{text}' is not a positive number of bytes.");
        }

        var twoPerson = true;
        if (section["RequireTwoPersonApproval"] is { Length: > 0 } flag && !bool.TryParse(flag, out twoPerson))
        {
            throw new InvalidConfigurationException("ModelRegistry:RequireTwoPersonApproval", $"'{flag}' is not true or false.");
        }

        return new ModelRegistrySettings(max, twoPerson);
    }
}
