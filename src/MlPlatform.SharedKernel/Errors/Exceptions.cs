namespace MlPlatform.SharedKernel.Errors;

/// <summary>Base for errors a caller caused; mapped to problem details by status code.</summary>
public abstract class PlatformException(string title, string detail, Exception? inner = null) : Exception(detail, inner)
{
    public string Title { get; } = title;

    public abstract int StatusCode { get; }

    /// <summary>Extra members of the problem details (RFC 9457 extensions), e.g. a list of errors with their paths.</summary>
    public virtual IReadOnlyDictionary<string, object?>? Extensions => null;
}

/// <summary>404: the object does not exist or the caller may not know that it does.</summary>
public sealed class NotFoundException(string resource, string id)
    : PlatformException("Not found", $"{resource} '{id}' was not found.")
{
    public override int StatusCode => 404;
}

/// <summary>409: the request conflicts with the current state (duplicate name, finished run, ...).</summary>
public sealed class ConflictException(string detail) : PlatformException("Conflict", detail)
{
    public override int StatusCode => 409;
}

/// <summary>403: authenticated, but not allowed to do this.</summary>
public sealed class ForbiddenException(string detail) : PlatformException("Forbidden", detail)
{
    public override int StatusCode => 403;
}

/// <summary>422: well-formed, but cannot be processed (a corrupt model file, say).</summary>
public sealed class UnprocessableException(string detail, Exception? inner = null)
    : PlatformException("Unprocessable content", detail, inner)
{
    public override int StatusCode => 422;
}

/// <summary>413: the body is over the configured limit.</summary>
public sealed class PayloadTooLargeException(long limit)
    : PlatformException("Payload too large", $"The request body is larger than the limit of {limit} bytes.")
{
    public override int StatusCode => 413;
}

/// <summary>400 for a request that is malformed in a way a validator cannot express.</summary>
public sealed class BadRequestException(string detail) : PlatformException("Bad request", detail)
{
    public override int StatusCode => 400;
}

/// <summary>415: the body's content type is not one the endpoint reads.</summary>
public sealed class UnsupportedMediaTypeException(string detail) : PlatformException("Unsupported media type", detail)
{
    public override int StatusCode => 415;
}

/// <summary>401: the credentials are missing or wrong (the answer never says which part).</summary>
public sealed class UnauthorizedException(string detail) : PlatformException("Unauthorized", detail)
{
    public override int StatusCode => 401;
}

/// <summary>429: too many attempts; the answer carries Retry-After.</summary>
public sealed class TooManyRequestsException(TimeSpan retryAfter, string detail)
    : PlatformException("Too many requests", detail)
{
    public TimeSpan RetryAfter { get; } = retryAfter;

    public override int StatusCode => 429;
}
