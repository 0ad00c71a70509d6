#!/usr/bin/env bash
# sqlfluff on the dbt SQL, as `make lint` and the pre-commit hook run it: dbt templater, duckdb
# dialect, rules in .sqlfluff. Arguments: files or folders (default: every SQL folder of the project).
# dbt compiles against a throwaway warehouse, so linting never opens (or locks) the real one.
set -uo pipefail
cd "$(dirname "$0")/.."
if [[ $# -eq 0 ]]; then
  set -- models tests macros analyses
fi
lintdb=$(mktemp -d)
trap 'rm -rf "$lintdb"' EXIT
DEMAND_DUCKDB_PATH="$lintdb/lint.duckdb" .venv/bin/sqlfluff lint "$@" --disable-progress-bar 2>&1 \
  | grep -v "^WARNING .*Skipped file .* because it is a macro"
exit "${PIPESTATUS[0]}"
