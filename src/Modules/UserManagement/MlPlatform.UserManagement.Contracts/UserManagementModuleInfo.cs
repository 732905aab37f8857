namespace MlPlatform.UserManagement.Contracts;

/// <summary>What other modules and a split-out service need to know to reach this module.</summary>
public static class UserManagementModuleInfo
{
    public const string Name = "UserManagement";
}
