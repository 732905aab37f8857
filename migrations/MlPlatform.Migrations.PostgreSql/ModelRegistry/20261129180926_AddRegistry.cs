using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.ModelRegistry
{
    /// <inheritdoc />
    public partial class AddRegistry : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "registered_models",
                schema: "model_registry",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    project_id = table.Column<Guid>(type: "uuid", nullable: false),
                    name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    description = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    protected_aliases = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: false),
                    latest_version = table.Column<int>(type: "integer", nullable: false),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_registered_models", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "alias_history",
                schema: "model_registry",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    model_id = table.Column<Guid>(type: "uuid", nullable: false),
                    alias = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    revision = table.Column<long>(type: "bigint", nullable: false),
                    from_version = table.Column<int>(type: "integer", nullable: true),
                    to_version = table.Column<int>(type: "integer", nullable: true),
                    moved_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    moved_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_alias_history", x => x.id);
                    table.ForeignKey(
                        name: "fk_alias_history_registered_models_model_id",
                        column: x => x.model_id,
                        principalSchema: "model_registry",
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_aliases",
                schema: "model_registry",
                columns: table => new
                {
                    model_id = table.Column<Guid>(type: "uuid", nullable: false),
                    alias = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    revision = table.Column<long>(type: "bigint", nullable: false),
                    updated_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    updated_by = table.Column<Guid>(type: "uuid", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_aliases", x => new { x.model_id, x.alias });
                    table.ForeignKey(
                        name: "fk_model_aliases_registered_models_model_id",
                        column: x => x.model_id,
                        principalSchema: "model_registry",
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateTable(
                name: "model_tags",
                schema: "model_registry",
                columns: table => new
                {
                    model_id = table.Column<Guid>(type: "uuid", nullable: false),
                    tag = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_tags", x => new { x.model_id, x.tag });
                    table.ForeignKey(
                        name: "fk_model_tags_registered_models_model_id",
                        column: x => x.model_id,
                        principalSchema: "model_registry",
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "model_versions",
                schema: "model_registry",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "uuid", nullable: false),
                    model_id = table.Column<Guid>(type: "uuid", nullable: false),
                    version = table.Column<int>(type: "integer", nullable: false),
                    description = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true),
                    status = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    artifact_key = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    artifact_uri = table.Column<string>(type: "character varying(2048)", maxLength: 2048, nullable: false),
                    sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    size_bytes = table.Column<long>(type: "bigint", nullable: false),
                    signature = table.Column<string>(type: "text", nullable: false),
                    metadata = table.Column<string>(type: "text", nullable: false),
                    metrics = table.Column<string>(type: "text", nullable: false),
                    @params = table.Column<string>(name: "params", type: "text", nullable: false),
                    lineage = table.Column<string>(type: "text", nullable: false),
                    workflow_run_id = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: true),
                    parent_version = table.Column<int>(type: "integer", nullable: true),
                    created_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    created_by = table.Column<Guid>(type: "uuid", nullable: true),
                    decided_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true),
                    decided_by = table.Column<Guid>(type: "uuid", nullable: true),
                    decision_comment = table.Column<string>(type: "character varying(2000)", maxLength: 2000, nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_model_versions", x => x.id);
                    table.ForeignKey(
                        name: "fk_model_versions_registered_models_model_id",
                        column: x => x.model_id,
                        principalSchema: "model_registry",
                        principalTable: "registered_models",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Restrict);
                });

            migrationBuilder.CreateIndex(
                name: "ix_alias_history_model_id_alias_revision",
                schema: "model_registry",
                table: "alias_history",
                columns: new[] { "model_id", "alias", "revision" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_model_tags_tag",
                schema: "model_registry",
                table: "model_tags",
                column: "tag");

            migrationBuilder.CreateIndex(
                name: "ix_model_versions_model_id_version",
                schema: "model_registry",
                table: "model_versions",
                columns: new[] { "model_id", "version" },
                unique: true);

            migrationBuilder.CreateIndex(
                name: "ix_model_versions_workflow_run_id",
                schema: "model_registry",
                table: "model_versions",
                column: "workflow_run_id");

            migrationBuilder.CreateIndex(
                name: "ix_registered_models_project_id_name",
                schema: "model_registry",
                table: "registered_models",
                columns: new[] { "project_id", "name" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "alias_history",
                schema: "model_registry");

            migrationBuilder.DropTable(
                name: "model_aliases",
                schema: "model_registry");

            migrationBuilder.DropTable(
                name: "model_tags",
                schema: "model_registry");

            migrationBuilder.DropTable(
                name: "model_versions",
                schema: "model_registry");

            migrationBuilder.DropTable(
                name: "registered_models",
                schema: "model_registry");
        }
    }
}
