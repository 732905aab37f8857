using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>
/// The test server has no network connection, so a test says which client address a request
/// comes from with <see cref="Header"/>; it becomes the connection's remote address, as Kestrel
/// would report it. Without the header the connection is left as the test server made it.
/// </summary>
public sealed class TestClientAddress : IStartupFilter
{
    public const string Header = "X-Test-Client-Address";

    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use((context, nextMiddleware) =>
        {
            if (context.Request.Headers.TryGetValue(Header, out var value) && IPAddress.TryParse(value.ToString(), out var address))
            {
                context.Connection.RemoteIpAddress = address;
            }

            return nextMiddleware(context);
        });
        next(app);
    };

    public static void Register(IServiceCollection services) => services.AddSingleton<IStartupFilter, TestClientAddress>();
}
