using System.Data.Common;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using MlPlatform.Host;
using Npgsql;

namespace MlPlatform.Benchmarks;

/// <summary>
/// The real host in-process on Kestrel loopback, on SQLite (a fresh data directory) or on a fresh
/// PostgreSQL database created for the run and dropped after it, plus raw connections to the same
/// database so a benchmark can compare the platform with the database it sits on.
/// </summary>
public sealed class BenchHost : IAsyncDisposable
{
    public const string AdminPassword = "Bench-Password-123!";

    private readonly WebApplication app;
    private readonly string dataDirectory;
    private readonly string? postgresAdmin;
    private readonly string? postgresDatabase;

    private BenchHost(WebApplication app, HttpClient client, string dataDirectory, string? postgresAdmin, string? postgresDatabase, string? postgresConnection)
    {
        this.app = app;
        this.dataDirectory = dataDirectory;
        this.postgresAdmin = postgresAdmin;
        this.postgresDatabase = postgresDatabase;
        PostgresConnection = postgresConnection;
        Client = client;
    }

    public HttpClient Client { get; }

    /// <summary>The run's own database when on PostgreSQL; null on SQLite.</summary>
    public string? PostgresConnection { get; }

    public string ProviderName => PostgresConnection is null ? "SQLite" : "PostgreSQL";

    public static async Task<BenchHost> StartAsync(string? postgres, int connections, Action<WebApplication>? map = null, IEnumerable<string>? settings = null)
    {
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-bench-" + Guid.NewGuid().ToString("N")[..8]);
        string? database = null;
        string? connection = null;
        if (postgres is not null)
        {
            // A database of its own, so the run starts from empty tables and leaves nothing behind.
            database = "mlp_bench_" + Guid.NewGuid().ToString("N")[..8];
            await using (var admin = new NpgsqlConnection(postgres))
            {
                await admin.OpenAsync();
                await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", admin);
                await create.ExecuteNonQueryAsync();
            }

            connection = new NpgsqlConnectionStringBuilder(postgres) { Database = database }.ConnectionString;
        }

        var port = FreePort();
        var args = new List<string>
        {
            $"--urls=http://127.0.0.1:{port}",
            $"--Platform:DataDirectory={dataDirectory}",
            "--Serilog:MinimumLevel:Default=Warning",
            "--UserManagement:BootstrapAdmin:Username=admin",
            $"--UserManagement:BootstrapAdmin:Password={AdminPassword}",
            "--Gateway:RateLimits:Enabled=false",
        };
        args.AddRange(settings ?? []);
        if (connection is not null)
        {
            args.Add("--Database:Provider=PostgreSql");
            args.Add($"--ConnectionStrings:PostgreSql={connection}");

            // Off by default on PostgreSQL (production migrates as a deployment step); the run's
            // database is new, so the host creates its schemas itself.
            args.Add("--Database:MigrateOnStart=true");
        }

        var app = PlatformHost.Build([.. args]);
        // Routes of the bench's own (reference points beside the platform's), added before the host starts.
        map?.Invoke(app);
        try
        {
            await PlatformHost.PrepareAsync(app);
            await app.StartAsync();
        }
        catch
        {
            // A host that never started is not disposed by the caller: drop what the run created
            // here, or every failed start would leave a database and a data directory behind.
            await app.DisposeAsync();
            await DropAsync(postgres, database);
            if (Directory.Exists(dataDirectory))
            {
                Directory.Delete(dataDirectory, recursive: true);
            }

            throw;
        }

        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        var client = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var host = new BenchHost(app, client, dataDirectory, postgres, database, connection);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await host.LoginAsync());
        return host;
    }

    /// <summary>A pooled connection to the database holding <paramref name="schema"/> (the module's file on SQLite).</summary>
    public async Task<DbConnection> OpenAsync(string schema)
    {
        DbConnection connection = PostgresConnection is null
            ? new SqliteConnection($"Data Source={Path.Combine(dataDirectory, "db", schema + ".db")};Pooling=True")
            : new NpgsqlConnection(PostgresConnection);
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>The table's name as raw SQL must write it: schema-qualified on PostgreSQL, bare in a module's SQLite file.</summary>
    public string Table(string schema, string table) => PostgresConnection is null ? table : $"{schema}.{table}";

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await app.StopAsync();
        await app.DisposeAsync();
        SqliteConnection.ClearAllPools();
        NpgsqlConnection.ClearAllPools();
        await DropAsync(postgresAdmin, postgresDatabase);
        Directory.Delete(dataDirectory, recursive: true);
    }

    private static async Task DropAsync(string? postgresAdmin, string? database)
    {
        if (postgresAdmin is null || database is null)
        {
            return;
        }

        await using var admin = new NpgsqlConnection(postgresAdmin);
        await admin.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {database} WITH (FORCE)", admin);
        await drop.ExecuteNonQueryAsync();
    }

    private async Task<string> LoginAsync()
    {
        using var response = await Client.PostAsJsonAsync("/api/v1/auth/login", new { username = "admin", password = AdminPassword });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<Dictionary<string, object>>();
        return body!["accessToken"].ToString()!;
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
