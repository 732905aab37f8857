using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Predictions
{
    /// <inheritdoc />
    public partial class AddEndpoints : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "batch_jobs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    endpoint_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    endpoint = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    input_key = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    output_key = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    state = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    rows = table.Column<long>(type: "INTEGER", nullable: false),
                    bytes_read = table.Column<long>(type: "INTEGER", nullable: false),
                    input_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    finished_at = table.Column<long>(type: "INTEGER", nullable: true),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_batch_jobs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "endpoints",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    production = table.Column<bool>(type: "INTEGER", nullable: false),
                    cache_enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    cache_max_entries = table.Column<int>(type: "INTEGER", nullable: false),
                    batching_enabled = table.Column<bool>(type: "INTEGER", nullable: false),
                    max_batch_size = table.Column<int>(type: "INTEGER", nullable: false),
                    max_batch_delay_microseconds = table.Column<int>(type: "INTEGER", nullable: false),
                    max_queue = table.Column<int>(type: "INTEGER", nullable: false),
                    max_concurrency = table.Column<int>(type: "INTEGER", nullable: false),
                    revision = table.Column<long>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_endpoints", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "endpoint_variants",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    endpoint_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    model_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    model = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    alias = table.Column<string>(type: "TEXT", maxLength: 63, nullable: true),
                    alias_revision = table.Column<long>(type: "INTEGER", nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false),
                    version_status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    artifact_key = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    sha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    weight = table.Column<int>(type: "INTEGER", nullable: false),
                    shadow = table.Column<bool>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_endpoint_variants", x => x.id);
                    table.ForeignKey(
                        name: "fk_endpoint_variants_endpoints_endpoint_id",
                        column: x => x.endpoint_id,
                        principalTable: "endpoints",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_batch_jobs_project_id_created_at",
                table: "batch_jobs",
                columns: new[] { "project_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_endpoint_variants_endpoint_id_name",
                table: "endpoint_variants",
                columns: new[] { "endpoint_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_endpoint_variants_model_id_alias",
                table: "endpoint_variants",
                columns: new[] { "model_id", "alias" });

            migrationBuilder.CreateIndex(
                name: "ix_endpoints_name",
                table: "endpoints",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_endpoints_project_id",
                table: "endpoints",
                column: "project_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "batch_jobs");

            migrationBuilder.DropTable(
                name: "endpoint_variants");

            migrationBuilder.DropTable(
                name: "endpoints");
        }
    }
}
