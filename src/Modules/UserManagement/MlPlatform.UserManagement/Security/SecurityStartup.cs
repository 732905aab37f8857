using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MlPlatform.UserManagement.Persistence;
using MlPlatform.UserManagement.Users;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// At start: loads (or makes) the signing keys and creates the first administrator when there
/// is no user yet. Then checks the keys every few minutes so rotation happens on time.
/// </summary>
public sealed partial class SecurityStartup(
    IServiceScopeFactory scopes,
    SigningKeyStore keys,
    UserManagementOptions options,
    ILogger<SecurityStartup> logger) : BackgroundService
{
    private static readonly TimeSpan RotationCheck = TimeSpan.FromMinutes(5);

    public override async Task StartAsync(CancellationToken cancellationToken)
    {
        await keys.EnsureCurrentAsync(cancellationToken);
        await EnsureBootstrapAdmin(cancellationToken);
        await base.StartAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(RotationCheck);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await keys.EnsureCurrentAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogRotationFailed(logger, ex);
            }
        }
    }

    private async Task EnsureBootstrapAdmin(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<UserManagementDbContext>();
        if (await db.Users.AnyAsync(cancellationToken))
        {
            return;
        }

        var password = options.BootstrapPassword;
        var generated = password is null;
        password ??= Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        try
        {
            await scope.ServiceProvider.GetRequiredService<UserAccounts>()
                .CreateAsync(options.BootstrapUsername, null, password, isAdmin: true, cancellationToken);
        }
        catch (MlPlatform.SharedKernel.Errors.ConflictException)
        {
            return; // Another host created it first.
        }
        catch (DbUpdateException)
        {
            return;
        }

        if (generated)
        {
            // The only time this password exists outside the hash: shown once, at first start.
            LogGeneratedPassword(logger, options.BootstrapUsername, password);
        }
        else
        {
            LogBootstrapAdmin(logger, options.BootstrapUsername);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Created the first administrator '{Username}' with the one-time password {Password} - log in and change it (PUT /api/v1/users/me/password)")]
    private static partial void LogGeneratedPassword(ILogger logger, string username, string password);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created the first administrator '{Username}' from configuration")]
    private static partial void LogBootstrapAdmin(ILogger logger, string username);

    [LoggerMessage(Level = LogLevel.Error, Message = "Signing key rotation check failed")]
    private static partial void LogRotationFailed(ILogger logger, Exception exception);
}
