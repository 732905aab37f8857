using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class SchedulesAndTriggers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "scheduled_at",
                schema: "workflow_engine",
                table: "runs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "trigger",
                schema: "workflow_engine",
                table: "runs",
                type: "character varying(16)",
                maxLength: 16,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "schedules",
                schema: "workflow_engine",
                columns: table => new
                {
                    workflow_id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    cron = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    time_zone = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    overlap = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    catch_up = table.Column<bool>(type: "boolean", nullable: false),
                    paused = table.Column<bool>(type: "boolean", nullable: false),
                    next_fire_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    last_fire_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    skipped_fires = table.Column<int>(type: "integer", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_schedules", x => x.workflow_id);
                    table.ForeignKey(
                        name: "fk_schedules_workflows_workflow_id",
                        column: x => x.workflow_id,
                        principalSchema: "workflow_engine",
                        principalTable: "workflows",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_runs_workflow_id_state",
                schema: "workflow_engine",
                table: "runs",
                columns: new[] { "workflow_id", "state" });

            migrationBuilder.CreateIndex(
                name: "ix_schedules_next_fire_at",
                schema: "workflow_engine",
                table: "schedules",
                column: "next_fire_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "schedules",
                schema: "workflow_engine");

            migrationBuilder.DropIndex(
                name: "ix_runs_workflow_id_state",
                schema: "workflow_engine",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "scheduled_at",
                schema: "workflow_engine",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "trigger",
                schema: "workflow_engine",
                table: "runs");
        }
    }
}
