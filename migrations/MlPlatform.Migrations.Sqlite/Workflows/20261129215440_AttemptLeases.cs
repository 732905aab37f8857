using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class AttemptLeases : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "lease_expires_at",
                table: "step_attempts",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "lease_owner",
                table: "step_attempts",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                table: "step_attempts",
                columns: new[] { "state", "lease_expires_at" });

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_state_scheduled_for",
                table: "step_attempts",
                columns: new[] { "state", "scheduled_for" });

            // Attempts running when the engine moved to leases were recovered by Quartz until now: an
            // expired lease hands them to the new sweep, which runs them again if their host is gone.
            migrationBuilder.Sql("UPDATE step_attempts SET lease_owner = 'before-leases', lease_expires_at = 0 WHERE state = 'running' AND suspend_state IS NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_scheduled_for",
                table: "step_attempts");

            migrationBuilder.DropColumn(
                name: "lease_expires_at",
                table: "step_attempts");

            migrationBuilder.DropColumn(
                name: "lease_owner",
                table: "step_attempts");
        }
    }
}
