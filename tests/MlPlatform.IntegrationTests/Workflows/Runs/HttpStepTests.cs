using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using MlPlatform.SharedKernel.Persistence;
using static MlPlatform.IntegrationTests.Workflows.Runs.RunApi;

namespace MlPlatform.IntegrationTests.Workflows.Runs;

/// <summary>The http step against a local server on 127.0.0.1 (the test hosts allow only that host).</summary>
public sealed class HttpStepTests(RunHostsFixture hosts) : IClassFixture<RunHostsFixture>, IDisposable
{
    private readonly HttpListener _server = new();
    private readonly ConcurrentQueue<string> _requests = new();
    private readonly int _port = FreePort();

    public static TheoryData<DatabaseProvider> Providers => new() { DatabaseProvider.Sqlite, DatabaseProvider.PostgreSql };

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private void Serve()
    {
        _server.Prefixes.Add($"http://127.0.0.1:{_port}/");
        _server.Start();
        _ = Task.Run(async () =>
        {
            while (_server.IsListening)
            {
                HttpListenerContext context;
                try
                {
                    context = await _server.GetContextAsync();
                }
                catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
                {
                    return;
                }

                using var reader = new StreamReader(context.Request.InputStream);
                var body = await reader.ReadToEndAsync();
                _requests.Enqueue($"{context.Request.HttpMethod} {context.Request.Url!.AbsolutePath} {context.Request.Headers["X-Token"]} {body}");
                var status = context.Request.Url.AbsolutePath == "/broken" ? 500 : 200;
                var answer = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { received = body, path = context.Request.Url.AbsolutePath }));
                context.Response.StatusCode = status;
                context.Response.ContentType = "application/json";
                await context.Response.OutputStream.WriteAsync(answer);
                context.Response.Close();
            }
        });
    }

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_http_step_When_the_host_is_allowed_Then_the_request_is_sent_and_its_answer_is_the_output_and_other_hosts_get_no_request(DatabaseProvider provider)
    {
        Serve();
        var api = await hosts.For(provider);
        var name = NewName("http");
        await Submit(api.Maintainer, api.Project, new
        {
            name,
            parameters = new { target = new { type = "string", @default = $"http://localhost:{_port}/sneaky" } },
            steps = new object[]
            {
                new { id = "call", type = "http", @params = new { url = $"http://127.0.0.1:{_port}/echo", method = "POST", headers = new Dictionary<string, string> { ["X-Token"] = "t1" }, body = new { model = "churn" } } },
                new { id = "use", type = "noop", dependsOn = new[] { "call" }, @params = new { outputs = new { path = "${steps.call.outputs.json.path}" } } },
                new { id = "broken", type = "http", @params = new { url = $"http://127.0.0.1:{_port}/broken" } },
                // Its host comes from a parameter: checked when the run resolves it, and refused.
                new { id = "elsewhere", type = "http", @params = new { url = "${params.target}" } },
            },
        });

        var run = await WaitFor(api.Maintainer, api.Project, await Start(api.Maintainer, api.Project, name));

        run.GetProperty("state").GetString().ShouldBe("failed", run.ToString());
        var call = Step(run, "call");
        call.GetProperty("state").GetString().ShouldBe("succeeded");
        call.GetProperty("outputs").GetProperty("status").GetInt32().ShouldBe(200);
        JsonDocument.Parse(call.GetProperty("outputs").GetProperty("json").GetProperty("received").GetString()!).RootElement.GetProperty("model").GetString().ShouldBe("churn");
        Step(run, "use").GetProperty("outputs").GetProperty("path").GetString().ShouldBe("/echo");
        Step(run, "broken").GetProperty("error").GetString()!.ShouldContain("500");
        Step(run, "elsewhere").GetProperty("error").GetString()!.ShouldContain("not on the allow-list");
        _requests.ShouldContain(r => r.StartsWith("POST /echo t1 ", StringComparison.Ordinal));
        _requests.ShouldNotContain(r => r.Contains("/sneaky", StringComparison.Ordinal));

        // At submit, a literal host that is not allowed is refused outright.
        var response = await api.Maintainer.PostAsync($"/api/v1/projects/{api.Project}/workflows", new StringContent(JsonSerializer.Serialize(new
        {
            name = NewName("http-bad"),
            steps = new object[] { new { id = "x", type = "http", @params = new { url = "https://example.com/" } } },
        }), Encoding.UTF8, "application/json"));
        (await Expect(response, HttpStatusCode.UnprocessableEntity)).GetProperty("errors").EnumerateArray()
            .Select(e => e.GetProperty("path").GetString()).ShouldContain("steps[0].params.url");
    }

    public void Dispose()
    {
        if (_server.IsListening)
        {
            _server.Stop();
        }

        _server.Close();
    }
}
