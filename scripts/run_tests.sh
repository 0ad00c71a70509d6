#!/usr/bin/env bash
# Every test, as CI runs it. pytest exit code 5 (no tests collected) is a failure here.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p test-output
.venv/bin/python -m pytest tests/python -p no:cacheprovider "$@"
code=$?
if [[ $code == 5 ]]; then
  echo "ERROR: pytest collected no tests" >&2
  exit 1
fi
exit $code
