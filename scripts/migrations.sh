#!/usr/bin/env bash
# Generates (or checks for drift) one migration per dialect from the entities, against throwaway databases.
#   scripts/migrations.sh generate Name   -> src/database/migrations/{sqlite,postgres}/<ts>-Name.ts
#   scripts/migrations.sh check           -> exits 1 when the entities and the migrations disagree
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?generate NAME or check}
name=${2:-Drift}
pg_admin=${MIGRATION_PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_db="migration_$$"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; psql "$pg_admin" -qc "DROP DATABASE IF EXISTS $pg_db" >/dev/null 2>&1 || true' EXIT
npx tsc -p tsconfig.build.json
psql "$pg_admin" -qc "CREATE DATABASE $pg_db" >/dev/null
flag=""
[ "$mode" = check ] && flag="--check --dryrun"
status=0
DATABASE_URL="sqlite:$tmp/gen.db" npx typeorm migration:run -d dist/ormconfig.js >/dev/null
DATABASE_URL="${pg_admin%/*}/$pg_db" npx typeorm migration:run -d dist/ormconfig.js >/dev/null
DATABASE_URL="sqlite:$tmp/gen.db" npx typeorm migration:generate $flag -d dist/ormconfig.js "src/database/migrations/sqlite/$name" || status=$?
DATABASE_URL="${pg_admin%/*}/$pg_db" npx typeorm migration:generate $flag -d dist/ormconfig.js "src/database/migrations/postgres/$name" || status=$?
[ "$mode" = generate ] && echo "Add the new classes to src/database/migrations.ts"
exit $status
