using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class ApprovalsLogsOverrides : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "signal",
                schema: "workflow_engine",
                table: "step_attempts",
                type: "text",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "deadline_at",
                schema: "workflow_engine",
                table: "runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "overridden_at",
                schema: "workflow_engine",
                table: "run_steps",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "overridden_by",
                schema: "workflow_engine",
                table: "run_steps",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "override_comment",
                schema: "workflow_engine",
                table: "run_steps",
                type: "character varying(2000)",
                maxLength: 2000,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "approvals",
                schema: "workflow_engine",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_step_id = table.Column<Guid>(type: "uuid", nullable: false),
                    attempt_id = table.Column<Guid>(type: "uuid", nullable: false),
                    step_id = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    message = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: false),
                    roles = table.Column<string>(type: "character varying(1000)", maxLength: 1000, nullable: false),
                    approvers = table.Column<string>(type: "character varying(8000)", maxLength: 8000, nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    requested_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    decided_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    decided_by = table.Column<Guid>(type: "uuid", nullable: true),
                    decided_by_name = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    comment = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_approvals", x => x.id);
                    table.ForeignKey(
                        name: "fk_approvals_runs_run_id",
                        column: x => x.run_id,
                        principalSchema: "workflow_engine",
                        principalTable: "runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "step_logs",
                schema: "workflow_engine",
                columns: table => new
                {
                    attempt_id = table.Column<Guid>(type: "uuid", nullable: false),
                    sequence = table.Column<int>(type: "integer", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    level = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    message = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_step_logs", x => new { x.attempt_id, x.sequence });
                    table.ForeignKey(
                        name: "fk_step_logs_step_attempts_attempt_id",
                        column: x => x.attempt_id,
                        principalSchema: "workflow_engine",
                        principalTable: "step_attempts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_approvals_attempt_id",
                schema: "workflow_engine",
                table: "approvals",
                column: "attempt_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_approvals_project_id_state",
                schema: "workflow_engine",
                table: "approvals",
                columns: new[] { "project_id", "state" });

            migrationBuilder.CreateIndex(
                name: "ix_approvals_run_id",
                schema: "workflow_engine",
                table: "approvals",
                column: "run_id");

            migrationBuilder.CreateIndex(
                name: "ix_step_logs_run_id",
                schema: "workflow_engine",
                table: "step_logs",
                column: "run_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "approvals",
                schema: "workflow_engine");

            migrationBuilder.DropTable(
                name: "step_logs",
                schema: "workflow_engine");

            migrationBuilder.DropColumn(
                name: "signal",
                schema: "workflow_engine",
                table: "step_attempts");

            migrationBuilder.DropColumn(
                name: "deadline_at",
                schema: "workflow_engine",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "overridden_at",
                schema: "workflow_engine",
                table: "run_steps");

            migrationBuilder.DropColumn(
                name: "overridden_by",
                schema: "workflow_engine",
                table: "run_steps");

            migrationBuilder.DropColumn(
                name: "override_comment",
                schema: "workflow_engine",
                table: "run_steps");
        }
    }
}
