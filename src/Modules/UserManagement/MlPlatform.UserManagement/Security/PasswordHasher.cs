using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Konscious.Security.Cryptography;

namespace MlPlatform.UserManagement.Security;

/// <summary>
/// Argon2id in the PHC string format (<c>$argon2id$v=19$m=…,t=…,p=…$salt$hash</c>), so each hash
/// carries its parameters and is upgraded on the next login when the configured ones rise.
/// </summary>
public sealed class PasswordHasher(UserManagementOptions options)
{
    private const int SaltBytes = 16;
    private const int HashBytes = 32;

    // Each hash holds ~19 MiB for tens of milliseconds: bound how many run at once.
    private static readonly SemaphoreSlim Concurrency = new(Math.Max(2, Environment.ProcessorCount * 2));

    private readonly Lazy<string> _dummyHash = new(() => HashCore("not-a-real-password", options.Argon2MemoryKib, options.Argon2Iterations, options.Argon2Parallelism));

    public async Task<string> HashAsync(string password, CancellationToken cancellationToken)
    {
        await Concurrency.WaitAsync(cancellationToken);
        try
        {
            return HashCore(password, options.Argon2MemoryKib, options.Argon2Iterations, options.Argon2Parallelism);
        }
        finally
        {
            Concurrency.Release();
        }
    }

    /// <summary>Checks a password; <paramref name="needsRehash"/> says the stored parameters are below the configured ones.</summary>
    public async Task<(bool Valid, bool NeedsRehash)> VerifyAsync(string password, string encoded, CancellationToken cancellationToken)
    {
        if (!TryParse(encoded, out var memory, out var iterations, out var parallelism, out var salt, out var expected))
        {
            return (false, false);
        }

        await Concurrency.WaitAsync(cancellationToken);
        try
        {
            var actual = Derive(password, salt, memory, iterations, parallelism, expected.Length);
            var valid = CryptographicOperations.FixedTimeEquals(actual, expected);
            var weaker = memory < options.Argon2MemoryKib || iterations < options.Argon2Iterations || parallelism < options.Argon2Parallelism;
            return (valid, valid && weaker);
        }
        finally
        {
            Concurrency.Release();
        }
    }

    /// <summary>Spends the same work as a real check, so an unknown user answers as slowly as a wrong password.</summary>
    public Task VerifyDummyAsync(string password, CancellationToken cancellationToken) =>
        VerifyAsync(password, _dummyHash.Value, cancellationToken);

    private static string HashCore(string password, int memory, int iterations, int parallelism)
    {
        var salt = RandomNumberGenerator.GetBytes(SaltBytes);
        var hash = Derive(password, salt, memory, iterations, parallelism, HashBytes);
        return string.Create(CultureInfo.InvariantCulture,
            $"$argon2id$v=19$m={memory},t={iterations},p={parallelism}${Convert.ToBase64String(salt).TrimEnd('=')}${Convert.ToBase64String(hash).TrimEnd('=')}");
    }

    private static byte[] Derive(string password, byte[] salt, int memory, int iterations, int parallelism, int length)
    {
        using var argon = new Argon2id(Encoding.UTF8.GetBytes(password))
        {
            Salt = salt,
            MemorySize = memory,
            Iterations = iterations,
            DegreeOfParallelism = parallelism,
        };
        return argon.GetBytes(length);
    }

    internal static bool TryParse(string encoded, out int memory, out int iterations, out int parallelism, out byte[] salt, out byte[] hash)
    {
        memory = iterations = parallelism = 0;
        salt = hash = [];
        var parts = encoded.Split('$');
        if (parts is not [_, "argon2id", "v=19", var parameters, var saltText, var hashText])
        {
            return false;
        }

        foreach (var pair in parameters.Split(','))
        {
            var kv = pair.Split('=');
            if (kv.Length != 2 || !int.TryParse(kv[1], CultureInfo.InvariantCulture, out var value))
            {
                return false;
            }

            switch (kv[0])
            {
                case "m": memory = value; break;
                case "t": iterations = value; break;
                case "p": parallelism = value; break;
                default: return false;
            }
        }

        try
        {
            salt = Convert.FromBase64String(Pad(saltText));
            hash = Convert.FromBase64String(Pad(hashText));
        }
        catch (FormatException)
        {
            return false;
        }

        return memory > 0 && iterations > 0 && parallelism > 0 && salt.Length >= 8 && hash.Length >= 16;
    }

    private static string Pad(string base64) => base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
}

/// <summary>The password rules every new password meets.</summary>
public sealed class PasswordPolicy(UserManagementOptions options)
{
    public const int MaxLength = 128;

    /// <summary>The reasons a password is refused; empty when it is acceptable.</summary>
    public IReadOnlyList<string> Check(string? password, string? username)
    {
        var problems = new List<string>();
        if (string.IsNullOrEmpty(password))
        {
            problems.Add("The password is required.");
            return problems;
        }

        if (password.Length < options.PasswordMinLength)
        {
            problems.Add($"The password must be at least {options.PasswordMinLength} characters.");
        }

        if (password.Length > MaxLength)
        {
            problems.Add($"The password must be at most {MaxLength} characters.");
        }

        if (password.Distinct().Count() < 5)
        {
            problems.Add("The password must use at least 5 different characters.");
        }

        if (username is { Length: > 0 } && password.Contains(username, StringComparison.OrdinalIgnoreCase))
        {
            problems.Add("The password must not contain the username.");
        }

        return problems;
    }
}
