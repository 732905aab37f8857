namespace MlPlatform.IntegrationTests.Infrastructure;

/// <summary>The first administrator every test host is started with.</summary>
public static class TestUsers
{
    public const string AdminName = "admin";

    public const string AdminPassword = "Admin-Password-123!";
}
