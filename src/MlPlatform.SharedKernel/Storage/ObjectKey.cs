namespace MlPlatform.SharedKernel.Storage;

public static class ObjectKey
{
    public const int MaxLength = 1024;

    /// <summary>Rejects keys that are empty, absolute, hold '..' or '.' segments, backslashes or control characters.</summary>
    public static string Validate(string key)
    {
        if (string.IsNullOrEmpty(key))
        {
            throw new InvalidObjectKeyException(key ?? string.Empty, "the key is empty");
        }

        if (key.Length > MaxLength)
        {
            throw new InvalidObjectKeyException(key[..64] + "…", $"longer than {MaxLength} characters");
        }

        if (key[0] == '/')
        {
            throw new InvalidObjectKeyException(key, "the key must be relative");
        }

        foreach (var c in key)
        {
            if (char.IsControl(c) || c == '\\')
            {
                throw new InvalidObjectKeyException(key, "control characters and backslashes are not allowed");
            }
        }

        foreach (var segment in key.Split('/'))
        {
            if (segment.Length == 0 || segment == "." || segment == "..")
            {
                throw new InvalidObjectKeyException(key, "empty, '.' and '..' segments are not allowed");
            }
        }

        return key;
    }

    /// <summary>Prefixes may end with '/' or be empty (list everything).</summary>
    public static string ValidatePrefix(string prefix)
    {
        if (prefix.Length == 0)
        {
            return prefix;
        }

        Validate(prefix.EndsWith('/') ? prefix[..^1] : prefix);
        return prefix;
    }
}
