using Microsoft.EntityFrameworkCore;
using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.IntegrationTests.UserManagement;

/// <summary>Stored hashes follow the configured Argon2 parameters: a login upgrades a weaker hash.</summary>
public sealed class PasswordRehashTests
{
    public static TheoryData<DatabaseProvider> Providers => HostPerProvider.Providers;

    [Theory]
    [MemberData(nameof(Providers))]
    public async Task Given_argon2_memory_raised_between_restarts_Then_the_next_login_rehashes_with_the_new_parameters(DatabaseProvider provider)
    {
        await using var host = await UmHost.StartAsync(provider);
        var user = await host.CreateUserAsync();
        var original = await StoredHash(host, user.Id);
        original.ShouldStartWith("$argon2id$v=19$m=19456,t=2,p=1$");

        await host.RestartAsync(new Dictionary<string, string?> { ["UserManagement:Passwords:Argon2MemoryKib"] = "24576" });

        // The hash is only upgraded where the password is known: at a successful login.
        (await StoredHash(host, user.Id)).ShouldBe(original);
        await (await host.LoginResponseAsync(user.Name, "Wrong-Password-42")).ShouldBeProblemAsync(System.Net.HttpStatusCode.Unauthorized);
        (await StoredHash(host, user.Id)).ShouldBe(original);
        await host.LoginAsync(user.Name);
        var upgraded = await StoredHash(host, user.Id);
        upgraded.ShouldStartWith("$argon2id$v=19$m=24576,t=2,p=1$");
        upgraded.ShouldNotContain(user.Password);

        // The new hash verifies, and is not redone at every login.
        await host.LoginAsync(user.Name);
        (await StoredHash(host, user.Id)).ShouldBe(upgraded);
    }

    private static Task<string> StoredHash(UmHost host, Guid userId) =>
        host.InDatabaseAsync(db => db.Users.Where(u => u.Id == userId).Select(u => u.PasswordHash).SingleAsync());
}
