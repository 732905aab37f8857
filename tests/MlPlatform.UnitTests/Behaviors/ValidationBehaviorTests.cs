using FluentValidation;
using Mediator;
using MlPlatform.SharedKernel.Behaviors;

namespace MlPlatform.UnitTests.Behaviors;

public sealed class ValidationBehaviorTests
{
    public sealed record CreateThing(string Name, int Size) : ICommand<string>;

    private sealed class NameValidator : AbstractValidator<CreateThing>
    {
        public NameValidator() => RuleFor(c => c.Name).NotEmpty();
    }

    private sealed class SizeValidator : AbstractValidator<CreateThing>
    {
        public SizeValidator() => RuleFor(c => c.Size).InclusiveBetween(1, 10);
    }

    private static ValueTask<string> Handler(CreateThing message, CancellationToken cancellationToken) => ValueTask.FromResult("handled " + message.Name);

    [Fact]
    public async Task Given_valid_request_Then_handler_runs()
    {
        var behavior = new ValidationBehavior<CreateThing, string>([new NameValidator(), new SizeValidator()]);

        var result = await behavior.Handle(new CreateThing("a", 3), Handler, CancellationToken.None);

        result.ShouldBe("handled a");
    }

    [Fact]
    public async Task Given_invalid_request_Then_every_failure_of_every_validator_is_reported_and_handler_does_not_run()
    {
        var behavior = new ValidationBehavior<CreateThing, string>([new NameValidator(), new SizeValidator()]);
        var handled = false;

        var ex = await Should.ThrowAsync<ValidationException>(async () => await behavior.Handle(
            new CreateThing("", 99),
            (m, ct) => { handled = true; return Handler(m, ct); },
            CancellationToken.None));

        handled.ShouldBeFalse();
        ex.Errors.Select(e => e.PropertyName).ShouldBe(["Name", "Size"], ignoreOrder: true);
    }
}
