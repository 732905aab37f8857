using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using MlPlatform.SharedKernel.Modules;
using MlPlatform.UserManagement.Audit;
using MlPlatform.UserManagement.Auth;
using MlPlatform.UserManagement.Contracts;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Projects;
using MlPlatform.UserManagement.Security;
using MlPlatform.UserManagement.Users;

namespace MlPlatform.UserManagement;

public sealed class UserManagementModule : Module<UserManagementDbContext>
{
    public override string Name => "UserManagement";

    public override string Schema => UserManagementDbContext.SchemaName;

    protected override void AddModuleServices(IServiceCollection services, ModuleContext context)
    {
        services.AddSingleton(UserManagementOptions.Read(context.Configuration));
        services.AddHttpContextAccessor();
        services.AddSingleton<PasswordHasher>();
        services.AddSingleton<PasswordPolicy>();
        services.AddSingleton<LoginThrottle>();
        services.AddSingleton<KeyEncryption>();
        services.AddSingleton<SigningKeyStore>();
        services.AddSingleton<TokenService>();
        services.AddSingleton<SessionIssuer>();
        services.AddSingleton<ApiKeyService>();
        services.AddSingleton<ProjectAuthorizer>();
        services.AddSingleton<IProjectAuthorizer>(sp => sp.GetRequiredService<ProjectAuthorizer>());
        services.AddSingleton<IProjectDirectory>(sp => sp.GetRequiredService<ProjectAuthorizer>());
        services.AddSingleton<IAccessRevision>(sp => sp.GetRequiredService<ProjectAuthorizer>());
        services.AddHostedService<MembershipFollower>();
        services.AddSingleton<AuditLog>();
        services.AddSingleton<IAuditLog>(sp => sp.GetRequiredService<AuditLog>());
        services.AddScoped<UserAccounts>();
        services.AddHostedService<SecurityStartup>();
        services.AddAuthentication(PlatformAuthenticationHandler.SchemeName)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, PlatformAuthenticationHandler>(PlatformAuthenticationHandler.SchemeName, null);
    }

    public override void MapEndpoints(IEndpointRouteBuilder endpoints)
    {
        endpoints.MapAuthEndpoints();
        endpoints.MapUserEndpoints();
        endpoints.MapProjectEndpoints();
        endpoints.MapAuditEndpoints();
    }

    /// <summary>Audits every state-changing request; runs after authentication so the actor is known.</summary>
    public override void UseMiddleware(IApplicationBuilder app) => app.UseMiddleware<AuditMiddleware>();
}
