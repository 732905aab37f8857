using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class AttemptLeases : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "lease_expires_at",
                schema: "workflow_engine",
                table: "step_attempts",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "lease_owner",
                schema: "workflow_engine",
                table: "step_attempts",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

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

            // Attempts running when the engine moved to leases were recovered by Quartz until now: an
            // expired lease hands them to the new sweep, which runs them again if their host is gone.
            migrationBuilder.Sql("UPDATE workflow_engine.step_attempts SET lease_owner = 'before-leases', lease_expires_at = TIMESTAMPTZ '2000-01-01 00:00:00+00' WHERE state = 'running' AND suspend_state IS NULL;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_lease_expires_at",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.DropIndex(
                name: "ix_step_attempts_state_scheduled_for",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.DropColumn(
                name: "lease_expires_at",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.DropColumn(
                name: "lease_owner",
                schema: "workflow_engine",
                table: "step_attempts");
        }
    }
}
