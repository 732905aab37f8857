#!/usr/bin/env bash
# Adds a migration for one module on both providers:  scripts/add-migration.sh <Module> <Name>
#   e.g. scripts/add-migration.sh Workflows AddRuns
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 <Module> <MigrationName>" >&2; exit 2; }
module=$1 name=$2
cd "$(dirname "$0")/.."
dotnet tool restore >/dev/null
for provider in Sqlite PostgreSql; do
  project=migrations/MlPlatform.Migrations.$provider
  dotnet ef migrations add "$name" \
    --project "$project" --startup-project "$project" \
    --context "${module}DbContext" \
    --output-dir "$module"
done
