using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class DropRunRowForeignKeys : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_run_steps_runs_run_id",
                schema: "workflow_engine",
                table: "run_steps");

            migrationBuilder.DropForeignKey(
                name: "fk_step_attempts_run_steps_run_step_id",
                schema: "workflow_engine",
                table: "step_attempts");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddForeignKey(
                name: "fk_run_steps_runs_run_id",
                schema: "workflow_engine",
                table: "run_steps",
                column: "run_id",
                principalSchema: "workflow_engine",
                principalTable: "runs",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_step_attempts_run_steps_run_step_id",
                schema: "workflow_engine",
                table: "step_attempts",
                column: "run_step_id",
                principalSchema: "workflow_engine",
                principalTable: "run_steps",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }
    }
}
