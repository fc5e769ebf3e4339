#!/usr/bin/env bash
# `make bench` step: server time to render the lineage page (/ui) of a registry with 1,000 versions.
# The registry: the tiny fixture base (Fixtures/cl-tiny) with --method linear and three real
# registers through the daemon, then grown to 1,000 versions by `RecallBench lineage` (provenance
# rows copied from the last real version through ProvenanceStore.commitVersion, with branches,
# gated versions and tags; no merges run). Then 30 GETs of /ui over the Unix socket; the server
# time is what the daemon logs for each request (route start to response ready; the page is built
# whole before it is sent), the client time curl's time_total.
#   bash bench/ui_render.sh BIN_DIR WORK_DIR RESULTS_DIR
set -euo pipefail
bin="$1" work="$2" results="$3"
here="$(cd "$(dirname "$0")/.." && pwd)"
tiny="$here/Tests/Fixtures/cl-tiny"
home="$work/ui-render-home"
sock="/tmp/rr-bench-ui-$$.sock"
versions="${UI_RENDER_VERSIONS:-1000}"
rm -rf "$home"
mkdir -p "$home"
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -f "$sock"' EXIT
start() {
  "$bin/recall-registry" serve --home "$home" --socket "$sock" >> "$home/daemon.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do "$bin/recallctl" status --socket "$sock" >/dev/null 2>&1 && return 0; sleep 0.1; done
  cat "$home/daemon.log"; return 1
}
start
"$bin/recallctl" init "$tiny/base" --method linear --socket "$sock" >/dev/null
for t in colour count opposite; do
  "$bin/recallctl" register "$tiny/expert-$t" --task "$t" --samples "$tiny/tasks/$t/samples.jsonl" --socket "$sock" >/dev/null
done
stop
grow=$("$bin/RecallBench" lineage "$home" --versions "$versions")
start
client=()
for _ in $(seq 30); do
  client+=("$(curl -s --unix-socket "$sock" -o "$work/ui-render.html" -w '%{time_total}' http://recall-registry/ui)")
done
bytes=$(stat -c %s "$work/ui-render.html")
nodes=$(grep -o '<g class="node"' "$work/ui-render.html" | wc -l)
stop
server=$(grep -o 'GET /ui -> 200 in [0-9.]* ms' "$home/daemon.log" | awk '{print $6}' | paste -sd, -)
load=$(cut -d' ' -f1 /proc/loadavg)
(IFS=,; printf '{"versions": %s, "nodes": %s, "page_bytes": %s, "grow": %s, "loadavg_1min": %s, "server_ms": [%s], "client_seconds": [%s]}\n' \
  "$versions" "$nodes" "$bytes" "$grow" "$load" "$server" "${client[*]}") > "$results/ui-render.json"
cat "$results/ui-render.json"
rm -rf "$home" "$work/ui-render.html"
