using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.ModelRegistry
{
    /// <inheritdoc />
    public partial class LineageIndexMetricSourcesArchive : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<long>(
                name: "archived_at",
                table: "model_versions",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<Guid>(
                name: "archived_by",
                table: "model_versions",
                type: "TEXT",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "metric_sources",
                table: "model_versions",
                type: "TEXT",
                maxLength: 65536,
                nullable: false,
                defaultValue: "{}");

            migrationBuilder.CreateTable(
                name: "version_datasets",
                columns: table => new
                {
                    version_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    dataset = table.Column<string>(type: "TEXT", maxLength: 200, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_version_datasets", x => new { x.version_id, x.dataset });
                    table.ForeignKey(
                        name: "fk_version_datasets_model_versions_version_id",
                        column: x => x.version_id,
                        principalTable: "model_versions",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "ix_version_datasets_dataset",
                table: "version_datasets",
                column: "dataset");

            // Versions registered before this migration kept their datasets only in the lineage JSON.
            migrationBuilder.Sql("INSERT OR IGNORE INTO version_datasets (version_id, dataset) SELECT v.id, j.value FROM model_versions v, json_each(v.lineage, '$.datasets') j WHERE json_type(v.lineage, '$.datasets') = 'array';");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "version_datasets");

            migrationBuilder.DropColumn(
                name: "archived_at",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "archived_by",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "metric_sources",
                table: "model_versions");
        }
    }
}
