using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class PartialIndexes : Migration
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

            migrationBuilder.CreateIndex(
                name: "ix_runs_active",
                schema: "workflow_engine",
                table: "runs",
                column: "state",
                filter: "state IN ('waiting', 'queued', 'running')");
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

            migrationBuilder.DropIndex(
                name: "ix_runs_active",
                schema: "workflow_engine",
                table: "runs");

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
