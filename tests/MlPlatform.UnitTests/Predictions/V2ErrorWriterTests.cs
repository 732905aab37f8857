using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.Predictions.Inference;

namespace MlPlatform.UnitTests.Predictions;

/// <summary>
/// The problem-details service as the host builds it (the default writer first, the module's
/// added after): V2 paths get <c>{"error": ...}</c>, others problem+json. Covers statuses no V2
/// request reaches through the real host today (403: Read is the least right, non-members get 404).
/// </summary>
public sealed class V2ErrorWriterTests
{
    private static IProblemDetailsService Service()
    {
        var services = new ServiceCollection();
        services.AddOptions();
        services.AddProblemDetails();
        V2ErrorWriter.Register(services);
        return services.BuildServiceProvider().GetRequiredService<IProblemDetailsService>();
    }

    private static async Task<(int Status, string? ContentType, JsonElement Body)> Write(string path, ProblemDetails problem)
    {
        var context = new DefaultHttpContext();
        context.Request.Path = path;
        context.Response.Body = new MemoryStream();
        context.Response.StatusCode = problem.Status ?? 500;
        (await Service().TryWriteAsync(new ProblemDetailsContext { HttpContext = context, ProblemDetails = problem })).ShouldBeTrue();
        context.Response.Body.Position = 0;
        using var document = await JsonDocument.ParseAsync(context.Response.Body);
        return (context.Response.StatusCode, context.Response.ContentType, document.RootElement.Clone());
    }

    [Theory]
    [InlineData("/v2/models/m/infer")]
    [InlineData("/v2/models/m/versions/1/infer")]
    [InlineData("/V2/health/live")]
    public async Task Given_forbidden_on_a_V2_path_Then_error_json_with_the_detail_and_status_403(string path)
    {
        var (status, type, body) = await Write(path, new ProblemDetails { Status = 403, Title = "Forbidden", Detail = "You are not allowed to do this." });

        status.ShouldBe(403);
        type.ShouldBe("application/json");
        body.EnumerateObject().Select(p => p.Name).ShouldBe(["error"]);
        body.GetProperty("error").GetString().ShouldBe("You are not allowed to do this.");
    }

    [Fact]
    public async Task Given_validation_problem_on_a_V2_path_Then_the_messages_are_joined_into_the_error()
    {
        var problem = new HttpValidationProblemDetails(new Dictionary<string, string[]> { ["a"] = ["A is wrong."], ["b"] = ["B is wrong."] }) { Status = 400 };

        var (status, _, body) = await Write("/v2/models/m/infer", problem);

        status.ShouldBe(400);
        body.GetProperty("error").GetString().ShouldBe("A is wrong. B is wrong.");
    }

    [Fact]
    public async Task Given_status_page_without_detail_on_a_V2_path_Then_the_error_says_what_the_status_means()
    {
        (await Write("/v2/models/m/explain", new ProblemDetails { Status = 404 })).Body.GetProperty("error").GetString().ShouldBe("Not found: no such V2 resource.");
        (await Write("/v2/models/m/infer", new ProblemDetails { Status = 405 })).Body.GetProperty("error").GetString().ShouldBe("Method not allowed on this V2 resource.");
    }

    [Theory]
    [InlineData("/api/v1/endpoints/m/predict")]
    [InlineData("/v2x/models")]
    [InlineData("/health/live")]
    public async Task Given_forbidden_outside_V2_Then_problem_json_as_before(string path)
    {
        var (status, type, body) = await Write(path, new ProblemDetails { Status = 403, Title = "Forbidden", Detail = "You are not allowed to do this." });

        status.ShouldBe(403);
        type.ShouldBe("application/problem+json");
        body.GetProperty("status").GetInt32().ShouldBe(403);
        body.GetProperty("detail").GetString().ShouldBe("You are not allowed to do this.");
    }
}
