using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.DataPipelines
{
    /// <inheritdoc />
    public partial class AddDatasetsQualityLineage : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "datasets",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_name = table.Column<string>(type: "TEXT", maxLength: 100, nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    declared_schema = table.Column<string>(type: "TEXT", nullable: true),
                    latest_version = table.Column<int>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_datasets", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "lineage_events",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    ol_run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    workflow_run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    event_type = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    job_name = table.Column<string>(type: "TEXT", maxLength: 300, nullable: false),
                    event_time = table.Column<long>(type: "INTEGER", nullable: false),
                    payload = table.Column<string>(type: "TEXT", nullable: false),
                    delivered_at = table.Column<long>(type: "INTEGER", nullable: true),
                    attempts = table.Column<int>(type: "INTEGER", nullable: false),
                    next_attempt_at = table.Column<long>(type: "INTEGER", nullable: false),
                    last_error = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_lineage_events", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "quality_suites",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false),
                    description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    rules = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quality_suites", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "dataset_versions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    dataset_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false),
                    sha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    format = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    artifact_key = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    artifact_uri = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    size_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    rows = table.Column<long>(type: "INTEGER", nullable: false),
                    schema = table.Column<string>(type: "TEXT", nullable: false),
                    profile = table.Column<string>(type: "TEXT", nullable: false),
                    produced_by_run = table.Column<Guid>(type: "TEXT", nullable: true),
                    produced_by_step = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    origin = table.Column<string>(type: "TEXT", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_dataset_versions", x => x.id);
                    table.ForeignKey(
                        name: "fk_dataset_versions_datasets_dataset_id",
                        column: x => x.dataset_id,
                        principalTable: "datasets",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "lineage_edges",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    step = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    dataset_version_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    direction = table.Column<string>(type: "TEXT", maxLength: 8, nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_lineage_edges", x => x.id);
                    table.ForeignKey(
                        name: "fk_lineage_edges_dataset_versions_dataset_version_id",
                        column: x => x.dataset_version_id,
                        principalTable: "dataset_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "quality_reports",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    suite_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    dataset_version_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    passed = table.Column<bool>(type: "INTEGER", nullable: false),
                    failed_rules = table.Column<int>(type: "INTEGER", nullable: false),
                    warnings = table.Column<int>(type: "INTEGER", nullable: false),
                    rows = table.Column<long>(type: "INTEGER", nullable: false),
                    results = table.Column<string>(type: "TEXT", nullable: false),
                    run_id = table.Column<Guid>(type: "TEXT", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_quality_reports", x => x.id);
                    table.ForeignKey(
                        name: "fk_quality_reports_dataset_versions_dataset_version_id",
                        column: x => x.dataset_version_id,
                        principalTable: "dataset_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                    table.ForeignKey(
                        name: "fk_quality_reports_quality_suites_suite_id",
                        column: x => x.suite_id,
                        principalTable: "quality_suites",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_dataset_id_sha256",
                table: "dataset_versions",
                columns: new[] { "dataset_id", "sha256" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_dataset_id_version",
                table: "dataset_versions",
                columns: new[] { "dataset_id", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_dataset_versions_produced_by_run",
                table: "dataset_versions",
                column: "produced_by_run");

            migrationBuilder.CreateIndex(
                name: "ix_datasets_project_id_name",
                table: "datasets",
                columns: new[] { "project_id", "name" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_lineage_edges_dataset_version_id",
                table: "lineage_edges",
                column: "dataset_version_id");

            migrationBuilder.CreateIndex(
                name: "ix_lineage_edges_project_id_run_id",
                table: "lineage_edges",
                columns: new[] { "project_id", "run_id" });

            migrationBuilder.CreateIndex(
                name: "ix_lineage_events_delivered_at_next_attempt_at",
                table: "lineage_events",
                columns: new[] { "delivered_at", "next_attempt_at" });

            migrationBuilder.CreateIndex(
                name: "ix_lineage_events_project_id_ol_run_id",
                table: "lineage_events",
                columns: new[] { "project_id", "ol_run_id" });

            migrationBuilder.CreateIndex(
                name: "ix_lineage_events_workflow_run_id",
                table: "lineage_events",
                column: "workflow_run_id");

            migrationBuilder.CreateIndex(
                name: "ix_quality_reports_dataset_version_id",
                table: "quality_reports",
                column: "dataset_version_id");

            migrationBuilder.CreateIndex(
                name: "ix_quality_reports_project_id_dataset_version_id",
                table: "quality_reports",
                columns: new[] { "project_id", "dataset_version_id" });

            migrationBuilder.CreateIndex(
                name: "ix_quality_reports_suite_id",
                table: "quality_reports",
                column: "suite_id");

            migrationBuilder.CreateIndex(
                name: "ix_quality_suites_project_id_name_version",
                table: "quality_suites",
                columns: new[] { "project_id", "name", "version" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "lineage_edges");

            migrationBuilder.DropTable(
                name: "lineage_events");

            migrationBuilder.DropTable(
                name: "quality_reports");

            migrationBuilder.DropTable(
                name: "dataset_versions");

            migrationBuilder.DropTable(
                name: "quality_suites");

            migrationBuilder.DropTable(
                name: "datasets");
        }
    }
}
