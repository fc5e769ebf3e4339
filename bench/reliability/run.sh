#!/usr/bin/env bash
# `make reliability`: the campaigns of issue #20 points 3-5, one after the other, figures into
# bench/results/reliability-*.json. Usage: run.sh BIN_DIR [LOAD_SECONDS] [KILL_ROUNDS]
set -euo pipefail
bin="$1"; load_s="${2:-600}"; rounds="${3:-200}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
py="$repo/tools/.venv-rel/bin/python"
if [ "$(id -u)" != 0 ]; then echo "make reliability needs root (tmpfs mount for the disk-full campaign, daemon run as nobody)" >&2; exit 2; fi
if [ ! -x "$py" ] || ! "$py" -c "import schemathesis, requests, lmdb" 2>/dev/null; then
  python3 -m venv "$repo/tools/.venv-rel"
  "$py" -m pip install -q -r "$here/requirements.txt"
fi
df -h "${RELIABILITY_TMP:-/tmp}" | tail -1
export RECALL_BIN="$bin"
status=0
echo "== schemathesis against docs/openapi.yaml (TCP + token)"
"$py" "$here/contract.py" --bin "$bin" || status=1
echo "== load: 16 clients for $load_s s (nice -n 5)"
nice -n 5 "$py" "$here/load.py" --bin "$bin" --duration "$load_s" || status=1
echo "== faults: disk full, $rounds SIGKILLs, corruption"
nice -n 5 "$py" "$here/faults.py" all --bin "$bin" --rounds "$rounds" || status=1
echo "figures: bench/results/reliability-*.json (goals not met: exit 1; see RELIABILITY.md)"
exit $status
