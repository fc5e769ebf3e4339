#!/usr/bin/env bash
# Issue #20 point 3: Schemathesis against docs/openapi.yaml on a running daemon over TCP with the
# token (contract.py does the work: temp home, seed, run, path probes, verify, stop, clean up).
# Usage: bench/reliability/schemathesis.sh [--max-examples N] [--seed S] [--bin DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="$repo/tools/.venv-rel/bin/python"
if [ ! -x "$py" ] || ! "$py" -c "import schemathesis, requests" 2>/dev/null; then
  python3 -m venv "$repo/tools/.venv-rel"
  "$py" -m pip install -q -r "$here/requirements.txt"
fi
exec "$py" "$here/contract.py" "$@"
