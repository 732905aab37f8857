using Microsoft.AspNetCore.Cors.Infrastructure;

namespace MlPlatform.Gateway.Cors;

/// <summary>The one default CORS policy, built from <c>Gateway:Cors</c> (validated when read).</summary>
internal static class CorsPolicies
{
    public static void Configure(CorsPolicyBuilder policy, CorsSettings settings)
    {
        if (settings.AnyOrigin)
        {
            policy.AllowAnyOrigin();
        }
        else
        {
            policy.WithOrigins([.. settings.AllowedOrigins]);
        }

        if (settings.AllowedMethods.Contains("*"))
        {
            policy.AllowAnyMethod();
        }
        else
        {
            policy.WithMethods([.. settings.AllowedMethods]);
        }

        if (settings.AllowedHeaders.Contains("*"))
        {
            policy.AllowAnyHeader();
        }
        else
        {
            policy.WithHeaders([.. settings.AllowedHeaders]);
        }

        policy.WithExposedHeaders([.. settings.ExposedHeaders]);
        if (settings.AllowCredentials)
        {
            policy.AllowCredentials();
        }

        policy.SetPreflightMaxAge(settings.MaxAge);
    }
}
