#!/usr/bin/env bash
# Create (idempotently) the Python venv used to generate golden test fixtures
# and run the oracle checker. Python is only used for fixtures/benchmarks;
# the product itself is Swift.
#
#   bash tools/setup-venv.sh
#   tools/.venv/bin/python tools/gen_safetensors_fixtures.py
#
# The CPU torch wheel is resolved from PyPI or a local wheel dir
# (pip's find-links, e.g. /opt/wheels on the dev machines).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "setup-venv: creating $VENV"
    "$PY" -m venv "$VENV"
fi

STAMP="$VENV/.requirements.sha256"
want="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$VENV/bin/python" -c 'import torch, safetensors, transformers, numpy' 2>/dev/null; then
    echo "setup-venv: $VENV is up to date"
    exit 0
fi

extra=()
if [ -d /opt/wheels ]; then
    extra+=(--find-links /opt/wheels)
fi

"$VENV/bin/python" -m pip install --quiet --upgrade pip
# CPU-only torch: never pull CUDA wheels.
"$VENV/bin/python" -m pip install ${extra[@]+"${extra[@]}"} -r "$REQ"
echo "$want" > "$STAMP"
echo "setup-venv: done ($VENV)"
