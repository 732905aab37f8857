using FluentValidation;

namespace MlPlatform.SharedKernel.Paging;

/// <summary>A list query's window: where its page starts and how many items it holds at most.</summary>
public interface IPagedQuery
{
    int Offset { get; }

    int Limit { get; }
}

/// <summary>The paging rules every list shares, so that every route answers bad paging alike.</summary>
public static class PageRules
{
    public const int MaxLimit = 200;

    public static void Paged<T>(this AbstractValidator<T> validator)
        where T : IPagedQuery
    {
        ArgumentNullException.ThrowIfNull(validator);
        validator.RuleFor(q => q.Offset).GreaterThanOrEqualTo(0);
        validator.RuleFor(q => q.Limit).InclusiveBetween(1, MaxLimit);
    }
}
