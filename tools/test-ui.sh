#!/usr/bin/env bash
# `make test-ui`: the web pages in a real browser. Starts the daemon (Unix socket + TCP with a
# token) on a temporary home, builds a registry from the tiny fixture models (Fixtures/cl-tiny:
# init with RECALL, register two tasks with eval items, a tag, one register the merge gate
# refuses), starts `recallctl ui --port 0`, then runs
# tools/ui_test.py (selenium + Debian's chromium-driver, headless), which registers the third task
# itself while watching the jobs page. Screenshots go to $UI_SCREENSHOTS (default .build/ui-test;
# `UI_SCREENSHOTS=docs/img make test-ui` refreshes the README's).
#   bash tools/test-ui.sh BIN_DIR
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")/.." && pwd)"
shots="${UI_SCREENSHOTS:-$here/.build/ui-test}"
venv="$here/tools/.venv-ui"
req="$here/tools/requirements-ui.txt"

SECONDS=0
# The venv, once per requirements file (as tools/setup-venv.sh does).
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -f "$venv/.requirements.sha256" ] || [ "$(cat "$venv/.requirements.sha256")" != "$want" ] || ! "$venv/bin/python" -c 'import selenium' 2>/dev/null; then
  echo "test-ui: creating $venv"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet -r "$req"
  echo "$want" > "$venv/.requirements.sha256"
fi

echo "test-ui: venv ready after ${SECONDS} s"
work="$(mktemp -d /tmp/rr-ui.XXXXXX)"
daemon_pid="" ui_pid=""
cleanup() {
  [ -n "$ui_pid" ] && kill "$ui_pid" 2>/dev/null || true
  if [ -n "$daemon_pid" ]; then
    kill "$daemon_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$daemon_pid" 2>/dev/null || true
    wait "$daemon_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

tiny="$here/Tests/Fixtures/cl-tiny"
sock="$work/s.sock"
port="$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$work/token"
ctl() { "$bin/recallctl" "$@" --socket "$sock"; }

"$bin/recall-registry" serve --home "$work/home" --socket "$sock" --listen "127.0.0.1:$port" --token-file "$work/token" > "$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl status >/dev/null || { cat "$work/daemon.log"; exit 1; }

ctl init "$tiny/base" --method recall --opt clusters=4 >/dev/null
for t in colour count; do
  ctl register "$tiny/expert-$t" --task "$t" --samples "$tiny/tasks/$t/samples.jsonl" --eval "$tiny/tasks/$t/eval.jsonl" >/dev/null
done
# A tag, and one register the gate refuses, so the pages' tag and gated columns are compared
# with something: the count expert (in bf16, so it is new content) registered as "colour"
# replaces the colour expert and colour's accuracy falls far below its best (version 2).
ctl tag reviewed 2 >/dev/null
"$bin/recallctl" convert "$tiny/expert-count" "$work/count-as-colour" --dtype bf16 >/dev/null
ctl register "$work/count-as-colour" --task colour --samples "$tiny/tasks/colour/samples.jsonl" --gate 5 > "$work/gated.out"
grep -q 'gated' "$work/gated.out" || { echo "test-ui: the gated register was not gated:"; cat "$work/gated.out"; exit 1; }

"$bin/recallctl" ui --port 0 --no-browser --socket "$sock" > "$work/ui.out" 2> "$work/ui.err" &
ui_pid=$!
for _ in $(seq 100); do grep -q '^open: ' "$work/ui.out" && break; sleep 0.1; done
login="$(sed -n 's/^open: //p' "$work/ui.out")"
[ -n "$login" ] || { cat "$work/ui.out" "$work/ui.err"; exit 1; }

echo "test-ui: registry (base + two registers + a gated one) and bridge ready after ${SECONDS} s"
t=opposite
status=0
"$venv/bin/python" "$here/tools/ui_test.py" --daemon "http://127.0.0.1:$port" --token "$(cat "$work/token")" --bridge-login "$login" \
  --screenshots "$shots" \
  --register "$bin/recallctl" register "$tiny/expert-$t" --task "$t" --samples "$tiny/tasks/$t/samples.jsonl" --eval "$tiny/tasks/$t/eval.jsonl" --socket "$sock" \
  || status=$?
echo "test-ui: browser checks done after ${SECONDS} s"
if [ "$status" != 0 ]; then echo "--- daemon log (tail)"; tail -n 40 "$work/daemon.log"; fi
exit "$status"
