using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.DataPipelines
{
    /// <inheritdoc />
    public partial class AddRemoteTrainingJobs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "remote_training_jobs",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    step_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false),
                    attempt = table.Column<int>(type: "integer", nullable: false),
                    backend = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    job_name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    outcome = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_remote_training_jobs", x => x.id);
                });

            migrationBuilder.CreateIndex(
                name: "ix_remote_training_jobs_backend_job_name",
                schema: "data_pipeline",
                table: "remote_training_jobs",
                columns: new[] { "backend", "job_name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_remote_training_jobs_run_id",
                schema: "data_pipeline",
                table: "remote_training_jobs",
                column: "run_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "remote_training_jobs",
                schema: "data_pipeline");
        }
    }
}
