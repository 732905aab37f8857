using MlPlatform.UserManagement.Contracts;

namespace MlPlatform.UserManagement.Domain;

public sealed class User
{
    public Guid Id { get; set; }

    public required string Username { get; set; }

    /// <summary>Lower-cased for case-insensitive uniqueness and look-up.</summary>
    public required string NormalizedUsername { get; set; }

    public string? Email { get; set; }

    public string? NormalizedEmail { get; set; }

    public required string PasswordHash { get; set; }

    public bool IsAdmin { get; set; }

    public bool IsDisabled { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset PasswordChangedAt { get; set; }

    public DateTimeOffset? LastLoginAt { get; set; }
}

public sealed class Project
{
    public Guid Id { get; set; }

    public required string Name { get; set; }

    public string? Description { get; set; }

    public Guid CreatedBy { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class Membership
{
    public Guid ProjectId { get; set; }

    public Guid UserId { get; set; }

    public ProjectRole Role { get; set; }

    /// <summary>The approver right: may approve model versions and move protected aliases.</summary>
    public bool IsApprover { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A non-human principal of one project, authenticating with API keys.</summary>
public sealed class ServiceAccount
{
    public Guid Id { get; set; }

    public Guid ProjectId { get; set; }

    public required string Name { get; set; }

    public ProjectRole Role { get; set; }

    public Guid CreatedBy { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

public sealed class ApiKey
{
    public Guid Id { get; set; }

    public Guid ServiceAccountId { get; set; }

    public required string Name { get; set; }

    /// <summary>SHA-256 of the secret part; the secret itself is shown once and never stored.</summary>
    public required byte[] SecretHash { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public DateTimeOffset? LastUsedAt { get; set; }
}

/// <summary>A login: one family of rotating refresh tokens.</summary>
public sealed class Session
{
    public Guid Id { get; set; }

    public Guid UserId { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset LastUsedAt { get; set; }

    /// <summary>No refresh beyond this, however active the session.</summary>
    public DateTimeOffset ExpiresAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public string? RevokedReason { get; set; }

    public string? ClientAddress { get; set; }

    public string? UserAgent { get; set; }
}

public sealed class RefreshToken
{
    public Guid Id { get; set; }

    public Guid SessionId { get; set; }

    /// <summary>SHA-256 of the opaque token.</summary>
    public required byte[] TokenHash { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }

    /// <summary>Set when the token was exchanged; presenting it again is reuse.</summary>
    public DateTimeOffset? ConsumedAt { get; set; }
}

public sealed class SigningKey
{
    /// <summary>The JWT <c>kid</c>.</summary>
    public required string Id { get; set; }

    public required string Algorithm { get; set; }

    /// <summary>The public key as a JWK (JSON), published at /.well-known/jwks.json.</summary>
    public required string PublicJwk { get; set; }

    /// <summary>PKCS#8 private key sealed with AES-GCM under the key-encryption key.</summary>
    public required byte[] ProtectedPrivateKey { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    /// <summary>New tokens are signed with the newest key until this time.</summary>
    public DateTimeOffset SignUntil { get; set; }

    /// <summary>Tokens signed with it are accepted (and it is published) until this time.</summary>
    public DateTimeOffset ValidUntil { get; set; }
}

/// <summary>One append-only audit record.</summary>
public sealed class AuditEntry
{
    public long Id { get; set; }

    public DateTimeOffset OccurredAt { get; set; }

    /// <summary>User or service account id, or the name given at a failed login, or "anonymous".</summary>
    public required string Actor { get; set; }

    public required string ActorType { get; set; }

    public required string Action { get; set; }

    public string? Resource { get; set; }

    public Guid? ProjectId { get; set; }

    public required string Outcome { get; set; }

    public int? StatusCode { get; set; }

    public string? TraceId { get; set; }

    public string? ClientAddress { get; set; }

    public string? Details { get; set; }
}
