using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace MlPlatform.SharedKernel.Errors;

/// <summary>Problem details written outside the exception handler (authentication challenges, for one).</summary>
public static class ProblemResponses
{
    public static async Task WriteProblemAsync(this IProblemDetailsService problems, HttpContext context, int status, string title, string detail)
    {
        ArgumentNullException.ThrowIfNull(problems);
        ArgumentNullException.ThrowIfNull(context);
        context.Response.StatusCode = status;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = new ProblemDetails { Status = status, Title = title, Detail = detail },
        });
    }
}
