using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class SchedulesAndTriggers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "scheduled_at",
                table: "runs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "trigger",
                table: "runs",
                type: "TEXT",
                maxLength: 16,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "schedules",
                columns: table => new
                {
                    workflow_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    cron = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    time_zone = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    overlap = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    catch_up = table.Column<bool>(type: "INTEGER", nullable: false),
                    paused = table.Column<bool>(type: "INTEGER", nullable: false),
                    next_fire_at = table.Column<long>(type: "INTEGER", nullable: true),
                    last_fire_at = table.Column<long>(type: "INTEGER", nullable: true),
                    skipped_fires = table.Column<int>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_schedules", x => x.workflow_id);
                    table.ForeignKey(
                        name: "fk_schedules_workflows_workflow_id",
                        column: x => x.workflow_id,
                        principalTable: "workflows",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_runs_workflow_id_state",
                table: "runs",
                columns: new[] { "workflow_id", "state" });

            migrationBuilder.CreateIndex(
                name: "ix_schedules_next_fire_at",
                table: "schedules",
                column: "next_fire_at");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "schedules");

            migrationBuilder.DropIndex(
                name: "ix_runs_workflow_id_state",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "scheduled_at",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "trigger",
                table: "runs");
        }
    }
}
