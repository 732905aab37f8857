namespace MlPlatform.SharedKernel.Paging;

/// <summary>One page of a list answer, with the total so a client can page through it.</summary>
public sealed record Page<T>(IReadOnlyList<T> Items, int Total, int Offset, int Limit);
