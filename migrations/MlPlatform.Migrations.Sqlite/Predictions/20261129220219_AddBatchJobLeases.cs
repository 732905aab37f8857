using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace MlPlatform.Migrations.Sqlite.Predictions
{
    /// <inheritdoc />
    public partial class AddBatchJobLeases : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<int>(
                name: "attempts",
                table: "batch_jobs",
                type: "INTEGER",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<long>(
                name: "lease_expires_at",
                table: "batch_jobs",
                type: "INTEGER",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "lease_owner",
                table: "batch_jobs",
                type: "TEXT",
                maxLength: 200,
                nullable: true);

            migrationBuilder.CreateIndex(
                name: "ix_batch_jobs_state_lease_expires_at",
                table: "batch_jobs",
                columns: new[] { "state", "lease_expires_at" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "ix_batch_jobs_state_lease_expires_at",
                table: "batch_jobs");

            migrationBuilder.DropColumn(
                name: "attempts",
                table: "batch_jobs");

            migrationBuilder.DropColumn(
                name: "lease_expires_at",
                table: "batch_jobs");

            migrationBuilder.DropColumn(
                name: "lease_owner",
                table: "batch_jobs");
        }
    }
}
