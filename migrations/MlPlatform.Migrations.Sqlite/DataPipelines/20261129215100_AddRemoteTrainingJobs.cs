using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.DataPipelines
{
    /// <inheritdoc />
    public partial class AddRemoteTrainingJobs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "remote_training_jobs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    step_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false),
                    attempt = table.Column<int>(type: "INTEGER", nullable: false),
                    backend = table.Column<string>(type: "TEXT", maxLength: 32, nullable: false),
                    job_name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    finished_at = table.Column<long>(type: "INTEGER", nullable: true),
                    outcome = table.Column<string>(type: "TEXT", maxLength: 16, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_remote_training_jobs", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_remote_training_jobs_backend_job_name",
                table: "remote_training_jobs",
                columns: new[] { "backend", "job_name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_remote_training_jobs_run_id",
                table: "remote_training_jobs",
                column: "run_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "remote_training_jobs");
        }
    }
}
