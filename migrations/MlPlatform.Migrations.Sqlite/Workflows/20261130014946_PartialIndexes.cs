using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class PartialIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_scheduled_for",
                table: "step_attempts");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_queued_due",
                table: "step_attempts",
                column: "scheduled_for",
                filter: "state = 'queued'");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_running_lease",
                table: "step_attempts",
                column: "lease_expires_at",
                filter: "state = 'running'");

            migrationBuilder.CreateIndex(
                name: "ix_runs_active",
                table: "runs",
                column: "state",
                filter: "state IN ('waiting', 'queued', 'running')");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_step_attempts_queued_due",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_step_attempts_running_lease",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_runs_active",
                table: "runs");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                table: "step_attempts",
                columns: new[] { "state", "lease_expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_state_scheduled_for",
                table: "step_attempts",
                columns: new[] { "state", "scheduled_for" });
        }
    }
}
