using MlPlatform.SharedKernel.Persistence;

namespace MlPlatform.UnitTests.Persistence;

public sealed class SnakeCaseNamesTests
{
    [Theory]
    [InlineData("OutboxMessages", "outbox_messages")]
    [InlineData("NextAttemptAt", "next_attempt_at")]
    [InlineData("PK_OutboxMessages", "pk_outbox_messages")]
    [InlineData("IX_Outbox_ProcessedAt", "ix_outbox_processed_at")]
    [InlineData("HTTPStatus", "http_status")]
    [InlineData("Sha256Hash", "sha256_hash")]
    [InlineData("already_snake", "already_snake")]
    public void Given_pascal_case_name_Then_it_becomes_snake_case(string name, string expected) =>
        SnakeCaseNames.ToSnakeCase(name).ShouldBe(expected);
}
