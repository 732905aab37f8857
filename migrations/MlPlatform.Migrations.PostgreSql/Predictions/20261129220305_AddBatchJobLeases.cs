using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.PostgreSql.Predictions
{
    /// <inheritdoc />
    public partial class AddBatchJobLeases : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "attempts",
                schema: "prediction",
                table: "batch_jobs",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "lease_expires_at",
                schema: "prediction",
                table: "batch_jobs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "lease_owner",
                schema: "prediction",
                table: "batch_jobs",
                type: "character varying(200)",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_batch_jobs_state_lease_expires_at",
                schema: "prediction",
                table: "batch_jobs",
                columns: new[] { "state", "lease_expires_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_batch_jobs_state_lease_expires_at",
                schema: "prediction",
                table: "batch_jobs");

            migrationBuilder.DropColumn(
                name: "attempts",
                schema: "prediction",
                table: "batch_jobs");

            migrationBuilder.DropColumn(
                name: "lease_expires_at",
                schema: "prediction",
                table: "batch_jobs");

            migrationBuilder.DropColumn(
                name: "lease_owner",
                schema: "prediction",
                table: "batch_jobs");
        }
    }
}
