using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class PartialAttemptIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_scheduled_for",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_queued_due",
                schema: "workflow_engine",
                table: "step_attempts",
                column: "scheduled_for",
                filter: "state = 'queued'");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_running_lease",
                schema: "workflow_engine",
                table: "step_attempts",
                column: "lease_expires_at",
                filter: "state = 'running'");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_step_attempts_queued_due",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_step_attempts_running_lease",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                schema: "workflow_engine",
                table: "step_attempts",
                columns: new[] { "state", "lease_expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_state_scheduled_for",
                schema: "workflow_engine",
                table: "step_attempts",
                columns: new[] { "state", "scheduled_for" });
        }
    }
}
