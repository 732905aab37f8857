using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.ModelRegistry
{
    /// <inheritdoc />
    public partial class AddRegistry : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "registered_models",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    project_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    protected_aliases = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: false),
                    latest_version = table.Column<int>(type: "INTEGER", nullable: false),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_registered_models", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "alias_history",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    model_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    alias = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    revision = table.Column<long>(type: "INTEGER", nullable: false),
                    from_version = table.Column<int>(type: "INTEGER", nullable: true),
                    to_version = table.Column<int>(type: "INTEGER", nullable: true),
                    moved_at = table.Column<long>(type: "INTEGER", nullable: false),
                    moved_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_alias_history", x => x.id);
                    table.ForeignKey(
                        name: "fk_alias_history_registered_models_model_id",
                        column: x => x.model_id,
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_aliases",
                columns: table => new
                {
                    model_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    alias = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false),
                    revision = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_at = table.Column<long>(type: "INTEGER", nullable: false),
                    updated_by = table.Column<Guid>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_aliases", x => new { x.model_id, x.alias });
                    table.ForeignKey(
                        name: "fk_model_aliases_registered_models_model_id",
                        column: x => x.model_id,
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_tags",
                columns: table => new
                {
                    model_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    tag = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_tags", x => new { x.model_id, x.tag });
                    table.ForeignKey(
                        name: "fk_model_tags_registered_models_model_id",
                        column: x => x.model_id,
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "model_versions",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    model_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    version = table.Column<int>(type: "INTEGER", nullable: false),
                    description = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    artifact_key = table.Column<string>(type: "TEXT", maxLength: 1024, nullable: false),
                    artifact_uri = table.Column<string>(type: "TEXT", maxLength: 2048, nullable: false),
                    sha256 = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "INTEGER", nullable: false),
                    signature = table.Column<string>(type: "TEXT", nullable: false),
                    metadata = table.Column<string>(type: "TEXT", nullable: false),
                    metrics = table.Column<string>(type: "TEXT", nullable: false),
                    @params = table.Column<string>(name: "params", type: "TEXT", nullable: false),
                    lineage = table.Column<string>(type: "TEXT", nullable: false),
                    workflow_run_id = table.Column<string>(type: "TEXT", maxLength: 200, nullable: true),
                    parent_version = table.Column<int>(type: "INTEGER", nullable: true),
                    created_at = table.Column<long>(type: "INTEGER", nullable: false),
                    created_by = table.Column<Guid>(type: "TEXT", nullable: true),
                    decided_at = table.Column<long>(type: "INTEGER", nullable: true),
                    decided_by = table.Column<Guid>(type: "TEXT", nullable: true),
                    decision_comment = table.Column<string>(type: "TEXT", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_versions", x => x.id);
                    table.ForeignKey(
                        name: "fk_model_versions_registered_models_model_id",
                        column: x => x.model_id,
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_alias_history_model_id_alias_revision",
                table: "alias_history",
                columns: new[] { "model_id", "alias", "revision" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_model_tags_tag",
                table: "model_tags",
                column: "tag");

            migrationBuilder.CreateIndex(
                name: "ix_model_versions_model_id_version",
                table: "model_versions",
                columns: new[] { "model_id", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_model_versions_workflow_run_id",
                table: "model_versions",
                column: "workflow_run_id");

            migrationBuilder.CreateIndex(
                name: "ix_registered_models_project_id_name",
                table: "registered_models",
                columns: new[] { "project_id", "name" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "alias_history");

            migrationBuilder.DropTable(
                name: "model_aliases");

            migrationBuilder.DropTable(
                name: "model_tags");

            migrationBuilder.DropTable(
                name: "model_versions");

            migrationBuilder.DropTable(
                name: "registered_models");
        }
    }
}
