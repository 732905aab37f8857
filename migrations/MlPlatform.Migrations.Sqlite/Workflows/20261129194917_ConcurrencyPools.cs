using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Workflows
{
    /// <inheritdoc />
    public partial class ConcurrencyPools : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "pool",
                table: "step_attempts",
                type: "TEXT",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "pool_leases",
                columns: table => new
                {
                    attempt_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    pool = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    expires_at = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_pool_leases", x => x.attempt_id);
                });

            migrationBuilder.CreateTable(
                name: "pools",
                columns: table => new
                {
                    name = table.Column<string>(type: "TEXT", maxLength: 63, nullable: false),
                    revision = table.Column<long>(type: "INTEGER", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_pools", x => x.name);
                });

            migrationBuilder.CreateIndex(
                name: "ix_pool_leases_pool_expires_at",
                table: "pool_leases",
                columns: new[] { "pool", "expires_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "pool_leases");

            migrationBuilder.DropTable(
                name: "pools");

            migrationBuilder.DropColumn(
                name: "pool",
                table: "step_attempts");
        }
    }
}
