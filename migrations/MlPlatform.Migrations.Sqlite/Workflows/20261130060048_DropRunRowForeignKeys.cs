using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class DropRunRowForeignKeys : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropForeignKey(
                name: "fk_run_steps_runs_run_id",
                table: "run_steps");

            migrationBuilder.DropForeignKey(
                name: "fk_step_attempts_run_steps_run_step_id",
                table: "step_attempts");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddForeignKey(
                name: "fk_run_steps_runs_run_id",
                table: "run_steps",
                column: "run_id",
                principalTable: "runs",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);

            migrationBuilder.AddForeignKey(
                name: "fk_step_attempts_run_steps_run_step_id",
                table: "step_attempts",
                column: "run_step_id",
                principalTable: "run_steps",
                principalColumn: "id",
                onDelete: ReferentialAction.Cascade);
        }
    }
}
