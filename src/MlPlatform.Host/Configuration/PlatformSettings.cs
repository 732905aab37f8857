using MlPlatform.SharedKernel.Configuration;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.Host.Configuration;

/// <summary>The settings the host itself reads; modules and the edge (<c>Gateway:*</c>) read their own sections.</summary>
public sealed record PlatformSettings(
    DatabaseSettings Database,
    bool MigrateOnStart,
    IReadOnlyList<string> EnabledModules,
    string LogFormat,
    string? OtlpEndpoint,
    string OtlpProtocol,
    string ServiceName)
{
    public static PlatformSettings Read(IConfiguration configuration, IReadOnlyCollection<string> knownModules)
    {
        var dataDirectory = configuration["Platform:DataDirectory"];
        if (string.IsNullOrWhiteSpace(dataDirectory))
        {
            dataDirectory = "./data";
        }

        var postgres = configuration.GetConnectionString("PostgreSql");
        var providerText = configuration["Database:Provider"];
        DatabaseProvider provider;
        if (string.IsNullOrWhiteSpace(providerText) || providerText.Equals("Auto", StringComparison.OrdinalIgnoreCase))
        {
            provider = string.IsNullOrWhiteSpace(postgres) ? DatabaseProvider.Sqlite : DatabaseProvider.PostgreSql;
        }
        else if (!Enum.TryParse(providerText, ignoreCase: true, out provider) || !Enum.IsDefined(provider))
        {
            throw new InvalidConfigurationException("Database:Provider", $"'{providerText}' is not one of Auto, Sqlite, PostgreSql.");
        }

        if (provider == DatabaseProvider.PostgreSql)
        {
            if (string.IsNullOrWhiteSpace(postgres))
            {
                throw new InvalidConfigurationException("ConnectionStrings:PostgreSql", "required when Database:Provider is PostgreSql.");
            }

            try
            {
                _ = new Npgsql.NpgsqlConnectionStringBuilder(postgres);
            }
            catch (ArgumentException ex)
            {
                throw new InvalidConfigurationException("ConnectionStrings:PostgreSql", ex.Message);
            }
        }

        var enabled = ReadEnabledModules(configuration, knownModules);
        var logFormat = configuration["Logging:Format"] ?? "Plain";
        if (!logFormat.Equals("Plain", StringComparison.OrdinalIgnoreCase) && !logFormat.Equals("Json", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidConfigurationException("Logging:Format", $"'{logFormat}' is not Plain or Json.");
        }

        var otlp = configuration["Observability:Otlp:Endpoint"];
        if (!string.IsNullOrWhiteSpace(otlp) && !Uri.TryCreate(otlp, UriKind.Absolute, out _))
        {
            throw new InvalidConfigurationException("Observability:Otlp:Endpoint", $"'{otlp}' is not an absolute URI.");
        }

        var otlpProtocol = configuration["Observability:Otlp:Protocol"] is { Length: > 0 } protocol ? protocol : "grpc";
        if (otlpProtocol is not ("grpc" or "http/protobuf"))
        {
            throw new InvalidConfigurationException("Observability:Otlp:Protocol", $"'{otlpProtocol}' is not grpc or http/protobuf.");
        }

        return new PlatformSettings(
            new DatabaseSettings(provider, postgres, Path.GetFullPath(dataDirectory)),
            ReadBool(configuration, "Database:MigrateOnStart", provider == DatabaseProvider.Sqlite),
            enabled,
            logFormat,
            string.IsNullOrWhiteSpace(otlp) ? null : otlp,
            otlpProtocol,
            configuration["Observability:ServiceName"] is { Length: > 0 } name ? name : "mlplatform");
    }

    private static string[] ReadEnabledModules(IConfiguration configuration, IReadOnlyCollection<string> knownModules)
    {
        // Accept both a JSON array and a comma-separated string (handy in environment variables).
        var section = configuration.GetSection("Modules:Enabled");
        var values = section.Value is { } single
            ? single.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : section.GetChildren().Select(c => c.Value ?? string.Empty).Where(v => v.Length > 0).ToArray();
        if (values.Length == 0 || values.Any(v => v == "*"))
        {
            return [.. knownModules];
        }

        var unknown = values.Where(v => !knownModules.Contains(v, StringComparer.OrdinalIgnoreCase)).ToArray();
        if (unknown.Length > 0)
        {
            throw new InvalidConfigurationException(
                "Modules:Enabled", $"unknown module(s) {string.Join(", ", unknown)}; known: {string.Join(", ", knownModules)}.");
        }

        return knownModules.Where(k => values.Contains(k, StringComparer.OrdinalIgnoreCase)).ToArray();
    }

    internal static bool ReadBool(IConfiguration configuration, string key, bool defaultValue)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return defaultValue;
        }

        return bool.TryParse(text, out var value)
            ? value
            : throw new InvalidConfigurationException(key, $"'{text}' is not true or false.");
    }

    internal static long ReadLong(IConfiguration configuration, string key, long defaultValue, long min = long.MinValue, long max = long.MaxValue)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return defaultValue;
        }

        if (!long.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < min || value > max)
        {
            throw new InvalidConfigurationException(key, $"'{text}' is not a whole number between {min} and {max}.");
        }

        return value;
    }

    internal static TimeSpan ReadTimeSpan(IConfiguration configuration, string key, TimeSpan defaultValue, TimeSpan min)
    {
        var text = configuration[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return defaultValue;
        }

        if (!TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var value) || value < min)
        {
            throw new InvalidConfigurationException(key, $"'{text}' is not a duration (hh:mm:ss) of at least {min}.");
        }

        return value;
    }
}
