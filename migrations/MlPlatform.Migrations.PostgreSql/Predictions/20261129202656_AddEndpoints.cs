using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Predictions
{
    /// <inheritdoc />
    public partial class AddEndpoints : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "batch_jobs",
                schema: "prediction",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    endpoint_id = table.Column<Guid>(type: "uuid", nullable: false),
                    endpoint = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    input_key = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    output_key = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    state = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    rows = table.Column<long>(type: "bigint", nullable: false),
                    bytes_read = table.Column<long>(type: "bigint", nullable: false),
                    input_bytes = table.Column<long>(type: "bigint", nullable: false),
                    error = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    finished_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_batch_jobs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "endpoints",
                schema: "prediction",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    description = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    production = table.Column<bool>(type: "boolean", nullable: false),
                    cache_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    cache_max_entries = table.Column<int>(type: "integer", nullable: false),
                    batching_enabled = table.Column<bool>(type: "boolean", nullable: false),
                    max_batch_size = table.Column<int>(type: "integer", nullable: false),
                    max_batch_delay_microseconds = table.Column<int>(type: "integer", nullable: false),
                    max_queue = table.Column<int>(type: "integer", nullable: false),
                    max_concurrency = table.Column<int>(type: "integer", nullable: false),
                    revision = table.Column<long>(type: "bigint", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_endpoints", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "endpoint_variants",
                schema: "prediction",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    endpoint_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    model_id = table.Column<Guid>(type: "uuid", nullable: false),
                    model = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    alias = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: true),
                    alias_revision = table.Column<long>(type: "bigint", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    version_status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    artifact_key = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false),
                    weight = table.Column<int>(type: "integer", nullable: false),
                    shadow = table.Column<bool>(type: "boolean", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_endpoint_variants", x => x.id);
                    table.ForeignKey(
                        name: "fk_endpoint_variants_endpoints_endpoint_id",
                        column: x => x.endpoint_id,
                        principalSchema: "prediction",
                        principalTable: "endpoints",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_batch_jobs_project_id_created_at",
                schema: "prediction",
                table: "batch_jobs",
                columns: new[] { "project_id", "created_at" });

            migrationBuilder.CreateIndex(
                name: "ix_endpoint_variants_endpoint_id_name",
                schema: "prediction",
                table: "endpoint_variants",
                columns: new[] { "endpoint_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_endpoint_variants_model_id_alias",
                schema: "prediction",
                table: "endpoint_variants",
                columns: new[] { "model_id", "alias" });

            migrationBuilder.CreateIndex(
                name: "ix_endpoints_name",
                schema: "prediction",
                table: "endpoints",
                column: "name",
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_endpoints_project_id",
                schema: "prediction",
                table: "endpoints",
                column: "project_id");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "batch_jobs",
                schema: "prediction");

            migrationBuilder.DropTable(
                name: "endpoint_variants",
                schema: "prediction");

            migrationBuilder.DropTable(
                name: "endpoints",
                schema: "prediction");
        }
    }
}
