using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class ApprovalsLogsOverrides : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "signal",
                table: "step_attempts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "deadline_at",
                table: "runs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<long>(
                name: "overridden_at",
                table: "run_steps",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "overridden_by",
                table: "run_steps",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "override_comment",
                table: "run_steps",
                type: "TEXT",
                maxLength: 2000,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "approvals",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_step_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    attempt_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    step_id = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    message = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    roles = table.Column<string>(type: "TEXT", maxLength: 1000, nullable: false),
                    approvers = table.Column<string>(type: "TEXT", maxLength: 8000, nullable: false),
                    state = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    requested_at = table.Column<long>(type: "INTEGER", nullable: false),
                    decided_at = table.Column<long>(type: "INTEGER", nullable: true),
                    decided_by = table.Column<Guid>(type: "TEXT", nullable: true),
                    decided_by_name = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    comment = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_approvals", x => x.id);
                    table.ForeignKey(
                        name: "fk_approvals_runs_run_id",
                        column: x => x.run_id,
                        principalTable: "runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "step_logs",
                columns: table => new
                {
                    attempt_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    sequence = table.Column<int>(type: "INTEGER", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    at = table.Column<long>(type: "INTEGER", nullable: false),
                    level = table.Column<string>(type: "TEXT", maxLength: 8, nullable: false),
                    message = table.Column<string>(type: "TEXT", maxLength: 4000, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_step_logs", x => new { x.attempt_id, x.sequence });
                    table.ForeignKey(
                        name: "fk_step_logs_step_attempts_attempt_id",
                        column: x => x.attempt_id,
                        principalTable: "step_attempts",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_approvals_attempt_id",
                table: "approvals",
                column: "attempt_id",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_approvals_project_id_state",
                table: "approvals",
                columns: new[] { "project_id", "state" });

            migrationBuilder.CreateIndex(
                name: "ix_approvals_run_id",
                table: "approvals",
                column: "run_id");

            migrationBuilder.CreateIndex(
                name: "ix_step_logs_run_id",
                table: "step_logs",
                column: "run_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "approvals");

            migrationBuilder.DropTable(
                name: "step_logs");

            migrationBuilder.DropColumn(
                name: "signal",
                table: "step_attempts");

            migrationBuilder.DropColumn(
                name: "deadline_at",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "overridden_at",
                table: "run_steps");

            migrationBuilder.DropColumn(
                name: "overridden_by",
                table: "run_steps");

            migrationBuilder.DropColumn(
                name: "override_comment",
                table: "run_steps");
        }
    }
}
