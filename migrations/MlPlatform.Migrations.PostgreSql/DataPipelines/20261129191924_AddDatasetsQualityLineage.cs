using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.DataPipelines
{
    /// <inheritdoc />
    public partial class AddDatasetsQualityLineage : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "datasets",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_name = table.Column<string>(type: "character varying(100)", maxLength: 100, nullable: false),
                    name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    description = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    declared_schema = table.Column<string>(type: "text", nullable: true),
                    latest_version = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_datasets", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "lineage_events",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    ol_run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    workflow_run_id = table.Column<Guid>(type: "uuid", nullable: true),
                    event_type = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    job_name = table.Column<string>(type: "character varying(300)", maxLength: 300, nullable: false),
                    event_time = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    payload = table.Column<string>(type: "text", nullable: false),
                    delivered_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    attempts = table.Column<int>(type: "integer", nullable: false),
                    next_attempt_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    last_error = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_lineage_events", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "quality_suites",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    description = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    rules = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quality_suites", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "dataset_versions",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    dataset_id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    format = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    artifact_key = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    artifact_uri = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false),
                    rows = table.Column<long>(type: "bigint", nullable: false),
                    schema = table.Column<string>(type: "text", nullable: false),
                    profile = table.Column<string>(type: "text", nullable: false),
                    produced_by_run = table.Column<Guid>(type: "uuid", nullable: true),
                    produced_by_step = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    origin = table.Column<string>(type: "text", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_dataset_versions", x => x.id);
                    table.ForeignKey(
                        name: "fk_dataset_versions_datasets_dataset_id",
                        column: x => x.dataset_id,
                        principalSchema: "data_pipeline",
                        principalTable: "datasets",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "lineage_edges",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: false),
                    step = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    dataset_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    direction = table.Column<string>(type: "character varying(8)", maxLength: 8, nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_lineage_edges", x => x.id);
                    table.ForeignKey(
                        name: "fk_lineage_edges_dataset_versions_dataset_version_id",
                        column: x => x.dataset_version_id,
                        principalSchema: "data_pipeline",
                        principalTable: "dataset_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "quality_reports",
                schema: "data_pipeline",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    suite_id = table.Column<Guid>(type: "uuid", nullable: false),
                    dataset_version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    passed = table.Column<bool>(type: "boolean", nullable: false),
                    failed_rules = table.Column<int>(type: "integer", nullable: false),
                    warnings = table.Column<int>(type: "integer", nullable: false),
                    rows = table.Column<long>(type: "bigint", nullable: false),
                    results = table.Column<string>(type: "text", nullable: false),
                    run_id = table.Column<Guid>(type: "uuid", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quality_reports", x => x.id);
                    table.ForeignKey(
                        name: "fk_quality_reports_dataset_versions_dataset_version_id",
                        column: x => x.dataset_version_id,
                        principalSchema: "data_pipeline",
                        principalTable: "dataset_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "fk_quality_reports_quality_suites_suite_id",
                        column: x => x.suite_id,
                        principalSchema: "data_pipeline",
                        principalTable: "quality_suites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_dataset_id_sha256",
                schema: "data_pipeline",
                table: "dataset_versions",
                columns: new[] { "dataset_id", "sha256" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_dataset_id_version",
                schema: "data_pipeline",
                table: "dataset_versions",
                columns: new[] { "dataset_id", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_produced_by_run",
                schema: "data_pipeline",
                table: "dataset_versions",
                column: "produced_by_run");

            migrationBuilder.CreateIndex(
                name: "ix_datasets_project_id_name",
                schema: "data_pipeline",
                table: "datasets",
                columns: new[] { "project_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_lineage_edges_dataset_version_id",
                schema: "data_pipeline",
                table: "lineage_edges",
                column: "dataset_version_id");

            migrationBuilder.CreateIndex(
                name: "ix_lineage_edges_project_id_run_id",
                schema: "data_pipeline",
                table: "lineage_edges",
                columns: new[] { "project_id", "run_id" });

            migrationBuilder.CreateIndex(
                name: "ix_lineage_events_delivered_at_next_attempt_at",
                schema: "data_pipeline",
                table: "lineage_events",
                columns: new[] { "delivered_at", "next_attempt_at" });

            migrationBuilder.CreateIndex(
                name: "ix_lineage_events_project_id_ol_run_id",
                schema: "data_pipeline",
                table: "lineage_events",
                columns: new[] { "project_id", "ol_run_id" });

            migrationBuilder.CreateIndex(
                name: "ix_lineage_events_workflow_run_id",
                schema: "data_pipeline",
                table: "lineage_events",
                column: "workflow_run_id");

            migrationBuilder.CreateIndex(
                name: "ix_quality_reports_dataset_version_id",
                schema: "data_pipeline",
                table: "quality_reports",
                column: "dataset_version_id");

            migrationBuilder.CreateIndex(
                name: "ix_quality_reports_project_id_dataset_version_id",
                schema: "data_pipeline",
                table: "quality_reports",
                columns: new[] { "project_id", "dataset_version_id" });

            migrationBuilder.CreateIndex(
                name: "ix_quality_reports_suite_id",
                schema: "data_pipeline",
                table: "quality_reports",
                column: "suite_id");

            migrationBuilder.CreateIndex(
                name: "ix_quality_suites_project_id_name_version",
                schema: "data_pipeline",
                table: "quality_suites",
                columns: new[] { "project_id", "name", "version" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "lineage_edges",
                schema: "data_pipeline");

            migrationBuilder.DropTable(
                name: "lineage_events",
                schema: "data_pipeline");

            migrationBuilder.DropTable(
                name: "quality_reports",
                schema: "data_pipeline");

            migrationBuilder.DropTable(
                name: "dataset_versions",
                schema: "data_pipeline");

            migrationBuilder.DropTable(
                name: "quality_suites",
                schema: "data_pipeline");

            migrationBuilder.DropTable(
                name: "datasets",
                schema: "data_pipeline");
        }
    }
}
