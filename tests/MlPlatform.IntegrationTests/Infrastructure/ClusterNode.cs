using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// One platform host (tests/MlPlatform.ClusterTestHost, with its probe module) in its own OS
/// process, so that a test can run several scheduler nodes on one database and kill one outright.
/// </summary>
public sealed class ClusterNode : IAsyncDisposable
{
    private const int KeptOutputLines = 400;
    private readonly Process _process;
    private readonly Queue<string> _output;
    private readonly string _dataDirectory;

    private ClusterNode(string name, int port, string dataDirectory, Process process, Queue<string> output)
    {
        Name = name;
        _output = output;
        BaseAddress = new Uri($"http://127.0.0.1:{port}");
        _dataDirectory = dataDirectory;
        _process = process;
        ProcessId = process.Id;
    }

    public string Name { get; }

    public Uri BaseAddress { get; }

    public int ProcessId { get; }

    public bool HasExited => _process.HasExited;

    /// <summary>The built cluster host; the test project's build writes its path into the test assembly.</summary>
    public static string HostAssemblyPath
    {
        get
        {
            var path = typeof(ClusterNode).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
                .FirstOrDefault(a => a.Key == "ClusterTestHostPath")?.Value;
            if (string.IsNullOrEmpty(path) || !File.Exists(path))
            {
                throw new InvalidOperationException(
                    $"The cluster test host was not found at '{path}': build tests/MlPlatform.IntegrationTests, which builds it too.");
            }

            return path;
        }
    }

    public static ClusterNode Start(string name, string postgresConnectionString, params string[] extraArguments)
    {
        var hostPath = HostAssemblyPath;
        var port = FreePort();
        var dataDirectory = Path.Combine(Path.GetTempPath(), "mlp-node-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dataDirectory);

        var start = new ProcessStartInfo(DotnetPath())
        {
            // The host reads appsettings.json from its content root, the current directory.
            WorkingDirectory = Path.GetDirectoryName(hostPath)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[]
                 {
                     hostPath,
                     "--urls", $"http://127.0.0.1:{port}",
                     $"--Platform:DataDirectory={dataDirectory}",
                     $"--ConnectionStrings:PostgreSql={postgresConnectionString}",
                     "--Database:Provider=PostgreSql",
                     "--Database:MigrateOnStart=true",
                     "--Scheduler:CheckinInterval=00:00:01",
                     "--Platform:ShutdownTimeout=00:00:02",
                 }.Concat(extraArguments))
        {
            start.ArgumentList.Add(arg);
        }

        start.Environment.Remove("ASPNETCORE_URLS");
        var output = new Queue<string>();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Keep(output, e.Data);
        process.ErrorDataReceived += (_, e) => Keep(output, e.Data);
        if (!process.Start())
        {
            throw new InvalidOperationException($"Could not start {start.FileName} {hostPath}.");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ClusterNode(name, port, dataDirectory, process, output);
    }

    /// <summary>Waits for /health/ready to answer 200; fails early if the process exits.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before it was ready.\n{Output()}");
            }

            try
            {
                using var response = await http.GetAsync("/health/ready");
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException)
            {
                // Busy starting; ask again.
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"{Name} was not ready within {timeout}.\n{Output()}");
    }

    /// <summary>SIGKILL on Linux: no shutdown hooks run, as when a machine dies.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as a service manager or container runtime stops a host, and the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        using (var kill = Process.Start("kill", ["-TERM", ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>The last lines the process wrote to stdout and stderr, for failure messages.</summary>
    public string Output()
    {
        var text = new StringBuilder();
        text.Append("---- ").Append(Name).Append(" (pid ").Append(ProcessId).Append(HasExited ? ", exited" : ", running").Append(") ----\n");
        lock (_output)
        {
            foreach (var line in _output)
            {
                text.Append(line).Append('\n');
            }
        }

        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            Kill();
            await _process.WaitForExitAsync();
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // The temp folder is cleaned by the OS.
        }
    }

    private static void Keep(Queue<string> output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.Enqueue(line);
            while (output.Count > KeptOutputLines)
            {
                output.Dequeue();
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The dotnet CLI tells the processes it starts where it is; a plain `dotnet` otherwise.</summary>
    private static string DotnetPath() =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } path && File.Exists(path) ? path : "dotnet";
}
