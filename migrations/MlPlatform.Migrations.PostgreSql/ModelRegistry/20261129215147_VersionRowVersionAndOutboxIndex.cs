using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.ModelRegistry
{
    /// <inheritdoc />
    public partial class VersionRowVersionAndOutboxIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "row_version",
                schema: "model_registry",
                table: "model_versions",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.CreateIndex(
                name: "ix_outbox_messages_occurred_at",
                schema: "model_registry",
                table: "outbox_messages",
                column: "occurred_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_outbox_messages_occurred_at",
                schema: "model_registry",
                table: "outbox_messages");

            migrationBuilder.DropColumn(
                name: "row_version",
                schema: "model_registry",
                table: "model_versions");
        }
    }
}
