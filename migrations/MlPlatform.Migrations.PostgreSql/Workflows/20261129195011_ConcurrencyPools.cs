using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Workflows
{
    /// <inheritdoc />
    public partial class ConcurrencyPools : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "pool",
                schema: "workflow_engine",
                table: "step_attempts",
                type: "text",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "pool_leases",
                schema: "workflow_engine",
                columns: table => new
                {
                    attempt_id = table.Column<Guid>(type: "uuid", nullable: false),
                    pool = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    expires_at = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_pool_leases", x => x.attempt_id);
                });

            migrationBuilder.CreateTable(
                name: "pools",
                schema: "workflow_engine",
                columns: table => new
                {
                    name = table.Column<string>(type: "character varying(63)", maxLength: 63, nullable: false),
                    revision = table.Column<long>(type: "bigint", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("pk_pools", x => x.name);
                });

            migrationBuilder.CreateIndex(
                name: "ix_pool_leases_pool_expires_at",
                schema: "workflow_engine",
                table: "pool_leases",
                columns: new[] { "pool", "expires_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "pool_leases",
                schema: "workflow_engine");

            migrationBuilder.DropTable(
                name: "pools",
                schema: "workflow_engine");

            migrationBuilder.DropColumn(
                name: "pool",
                schema: "workflow_engine",
                table: "step_attempts");
        }
    }
}
