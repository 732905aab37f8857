using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class EventTriggers : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "trigger_key",
                table: "runs",
                type: "TEXT",
                maxLength: 100,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "event_triggers",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workflow_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    event_type = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    ordinal = table.Column<int>(type: "INTEGER", nullable: false),
                    rule = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_event_triggers", x => x.id);
                    table.ForeignKey(
                        name: "fk_event_triggers_workflows_workflow_id",
                        column: x => x.workflow_id,
                        principalTable: "workflows",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_runs_workflow_id_trigger_key",
                table: "runs",
                columns: new[] { "workflow_id", "trigger_key" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_event_triggers_event_type",
                table: "event_triggers",
                column: "event_type");

            migrationBuilder.CreateIndex(
                name: "ix_event_triggers_workflow_id",
                table: "event_triggers",
                column: "workflow_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "event_triggers");

            migrationBuilder.DropIndex(
                name: "ix_runs_workflow_id_trigger_key",
                table: "runs");

            migrationBuilder.DropColumn(
                name: "trigger_key",
                table: "runs");
        }
    }
}
