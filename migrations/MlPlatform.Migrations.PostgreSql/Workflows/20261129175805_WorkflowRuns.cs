using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class WorkflowRuns : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "runs",
                schema: "workflow_engine",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    workflow_id = table.Column<Guid>(type: "uuid", nullable: false),
                    workflow_name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    workflow_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    parameters = table.Column<string>(type: "text", nullable: false),
                    error = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    revision = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_runs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "run_steps",
                schema: "workflow_engine",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    step_id = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    ordinal = table.Column<int>(type: "integer", nullable: false),
                    type = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    outputs = table.Column<string>(type: "text", nullable: true),
                    error = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: true),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_run_steps", x => x.id);
                    table.ForeignKey(
                        name: "fk_run_steps_runs_run_id",
                        column: x => x.run_id,
                        principalSchema: "workflow_engine",
                        principalTable: "runs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "step_attempts",
                schema: "workflow_engine",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_step_id = table.Column<Guid>(type: "uuid", nullable: false),
                    number = table.Column<int>(type: "integer", nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    scheduled_for = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    started_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    error = table.Column<string>(type: "character varying(4000)", maxLength: 4000, nullable: true),
                    suspend_state = table.Column<string>(type: "text", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_step_attempts", x => x.id);
                    table.ForeignKey(
                        name: "fk_step_attempts_run_steps_run_step_id",
                        column: x => x.run_step_id,
                        principalSchema: "workflow_engine",
                        principalTable: "run_steps",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_run_steps_run_id_step_id",
                schema: "workflow_engine",
                table: "run_steps",
                columns: new[] { "run_id", "step_id" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_runs_project_id_created_at",
                schema: "workflow_engine",
                table: "runs",
                columns: new[] { "project_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_runs_project_id_workflow_name_state",
                schema: "workflow_engine",
                table: "runs",
                columns: new[] { "project_id", "workflow_name", "state" });

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_run_id",
                schema: "workflow_engine",
                table: "step_attempts",
                column: "run_id");

            migrationBuilder.CreateIndex(
                name: "ix_step_attempts_run_step_id_number",
                schema: "workflow_engine",
                table: "step_attempts",
                columns: new[] { "run_step_id", "number" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "step_attempts",
                schema: "workflow_engine");

            migrationBuilder.DropTable(
                name: "run_steps",
                schema: "workflow_engine");

            migrationBuilder.DropTable(
                name: "runs",
                schema: "workflow_engine");
        }
    }
}
