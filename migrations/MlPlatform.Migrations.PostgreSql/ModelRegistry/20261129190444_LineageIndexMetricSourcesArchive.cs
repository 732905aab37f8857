using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.ModelRegistry
{
    /// <inheritdoc />
    public partial class LineageIndexMetricSourcesArchive : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "archived_at",
                schema: "model_registry",
                table: "model_versions",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "archived_by",
                schema: "model_registry",
                table: "model_versions",
                type: "uuid",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "metric_sources",
                schema: "model_registry",
                table: "model_versions",
                type: "character varying(65536)",
                maxLength: 65536,
                nullable: false,
                defaultValue: "{}");

            migrationBuilder.CreateTable(
                name: "version_datasets",
                schema: "model_registry",
                columns: table => new
                {
                    version_id = table.Column<Guid>(type: "uuid", nullable: false),
                    dataset = table.Column<string>(type: "character varying(200)", maxLength: 200, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_version_datasets", x => new { x.version_id, x.dataset });
                    table.ForeignKey(
                        name: "fk_version_datasets_model_versions_version_id",
                        column: x => x.version_id,
                        principalSchema: "model_registry",
                        principalTable: "model_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_version_datasets_dataset",
                schema: "model_registry",
                table: "version_datasets",
                column: "dataset");

            // Versions registered before this migration kept their datasets only in the lineage JSON.
            migrationBuilder.Sql("INSERT INTO model_registry.version_datasets (version_id, dataset) SELECT DISTINCT v.id, d.value FROM model_registry.model_versions v CROSS JOIN LATERAL jsonb_array_elements_text(CASE WHEN jsonb_typeof(v.lineage::jsonb -> 'datasets') = 'array' THEN v.lineage::jsonb -> 'datasets' ELSE '[]'::jsonb END) AS d(value) ON CONFLICT DO NOTHING;");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "version_datasets",
                schema: "model_registry");

            migrationBuilder.DropColumn(
                name: "archived_at",
                schema: "model_registry",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "archived_by",
                schema: "model_registry",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "metric_sources",
                schema: "model_registry",
                table: "model_versions");
        }
    }
}
