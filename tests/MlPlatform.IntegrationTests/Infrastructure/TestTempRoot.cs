using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// Every temporary file of a test run under one folder of its own, removed when the run ends. A host
/// that still holds a SQLite file when its test ends cannot delete its data directory; before, each
/// plain <c>dotnet test</c> left about a hundred of them in /tmp (scripts/test.sh also points TMPDIR
/// at its work folder, which this nests in).
/// </summary>
internal static class TestTempRoot
{
    [ModuleInitializer]
    [SuppressMessage("Usage", "CA2255:The 'ModuleInitializer' attribute should not be used in libraries", Justification = "A test assembly: it must run before any test class asks for a temporary path, and xunit 2 has no assembly fixture.")]
    internal static void Initialize()
    {
        var root = Path.Combine(Path.GetTempPath(), $"mlp-tests-{Environment.ProcessId}");
        Directory.CreateDirectory(root);
        // On Linux Path.GetTempPath reads TMPDIR on every call, and child hosts started by the tests
        // inherit it; native code (SQLite's and ONNX Runtime's own temporary files) does not see it.
        Environment.SetEnvironmentVariable("TMPDIR", root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(root, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A file still being written as the process ends: the folder is the run's own, named by its PID.
            }
        };
    }
}
