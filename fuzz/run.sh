#!/usr/bin/env bash
# The parser fuzz harnesses (issue #20): build once, run each harness for a fixed budget.
#
#   fuzz/run.sh build                      # the libFuzzer + ASan build (.build-fuzz, ~minutes cold)
#   fuzz/run.sh smoke [SECONDS]            # every harness SECONDS (15) in turn; exit 1 on any finding
#   fuzz/run.sh ci [RUNS]                  # every harness RUNS (3000) inputs, seed 1, fresh corpus:
#                                          # the same inputs on every machine (what .ci/run calls)
#   fuzz/run.sh long SECONDS [JOBS]        # every harness SECONDS, JOBS (2) at a time; figures in
#                                          # .build-fuzz/results.tsv
#   fuzz/run.sh one HARNESS SECONDS        # one harness
#   fuzz/run.sh repro HARNESS FILE...      # run inputs once (a crash file, a corpus)
#   fuzz/run.sh summary                    # the figures of the last run of each harness, from its log
#
# HARNESSES="json gguf" limits the set. New corpus entries go to .build-fuzz/corpus/<harness>
# (the committed seeds in fuzz/corpus/<harness> are only read); findings (crash-*, timeout-*,
# oom-*, leak-*) go to .build-fuzz/artifacts/<harness>/. Everything runs under nice -n 5.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH=$ROOT/.build-fuzz
BIN=${FUZZ_BIN:-$SCRATCH/release/recall-fuzz}
ALL="bf16 chunk config gguf gguf-quant json manifest mergekit peft rans safetensors safetensors-index samples tokenizer"
HARNESSES=${HARNESSES:-$ALL}
SWIFT=${SWIFT:-swift}

build() {
    # -sanitize=fuzzer adds coverage and links libFuzzer's main;
    # -enable-testing lets the harnesses reach the internal decoders (@testable import).
    (cd fuzz && nice -n 5 "$SWIFT" build -c release --scratch-path "$SCRATCH" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -enable-testing)
}

# run_one HARNESS SECONDS [LIBFUZZER FLAGS...]: fuzz one harness; prints one result line,
# returns 1 on a finding. FUZZ_WORK (default .build-fuzz/corpus) holds the corpus it grows.
run_one() {
    local h=$1 secs=$2
    shift 2
    local work=${FUZZ_WORK:-$SCRATCH/corpus}/$h art=${FUZZ_ARTIFACTS:-$SCRATCH/artifacts}/$h log=$SCRATCH/logs/$h.log
    mkdir -p "$work" "$art" "$(dirname "$log")"
    local rc=0
    # -timeout: one input may take 10 s at most (a hang); -rss_limit_mb: memory (an OOM);
    # -malloc_limit_mb: no single allocation above 1 GiB. ASan leak checks are off: the parsers
    # keep process-wide caches (Foundation, regex) that LeakSanitizer would report at exit.
    # SWIFT_BACKTRACE: the Swift runtime's crash handler would read memory ASan has poisoned and
    # report that instead of the trap itself.
    RECALL_FUZZ_HARNESS=$h SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=0} \
        nice -n 5 "$BIN" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
        -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$art/" "$@" \
        "$work" "fuzz/corpus/$h" >"$log" 2>&1 || rc=$?
    local line findings
    line=$(figures "$h")
    findings=$(cut -f8 <<<"$line")
    printf '%s%s\n' "${line%-}" "$rc"
    if [ "$rc" != 0 ] || [ "$findings" != 0 ]; then
        echo "FINDING in $h (exit $rc): $(ls "$art" | head -3 | tr '\n' ' ') log: $log" >&2
        grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer)|Fatal error|SUMMARY' "$log" >&2 || true
        return 1
    fi
}

# figures HARNESS: one line from the harness's last log.
figures() {
    local h=$1 log=$SCRATCH/logs/$1.log
    [ -f "$log" ] || return 0
    local execs secs cov ft corp rss findings
    execs=$(awk '/stat::number_of_executed_units/ { print $NF }' "$log" | tail -1)
    secs=$(awk '/^Done [0-9]+ runs in/ { print $(NF-1) }' "$log" | tail -1)
    rss=$(awk '/stat::peak_rss_mb/ { print $NF }' "$log" | tail -1)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    ft=$(grep -Eo 'ft: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    corp=$(grep -Eo 'corp: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    findings=$( (find "${FUZZ_ARTIFACTS:-$SCRATCH/artifacts}/$h" -maxdepth 1 -type f 2>/dev/null || true) | wc -l)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t-\n' "$h" "${secs:--}" "${execs:-0}" "${cov:-0}" "${ft:-0}" "${corp:-0}" "${rss:-0}" "$findings"
}

header() { printf 'harness\tseconds\texecs\tcov\tft\tcorpus\tpeak_rss_mb\tfindings\texit\n'; }

case "${1:-}" in
build)
    build
    ;;
smoke)
    secs=${2:-15}
    [ -x "$BIN" ] || build
    failed=0
    header
    for h in $HARNESSES; do run_one "$h" "$secs" || failed=1; done
    exit $failed
    ;;
ci)
    # Deterministic: a fixed seed, a fixed number of inputs and an empty working corpus, so a
    # finding here is reproducible (`fuzz/run.sh repro`) and a green run means the same inputs
    # passed; the time cap (120 s) only guards a starved machine.
    runs=${2:-3000}
    [ -x "$BIN" ] || build
    FUZZ_WORK=$(mktemp -d)
    FUZZ_ARTIFACTS=$SCRATCH/artifacts-ci
    rm -rf "$FUZZ_ARTIFACTS"
    export FUZZ_WORK FUZZ_ARTIFACTS
    trap 'rm -rf "$FUZZ_WORK"' EXIT
    failed=0
    header
    for h in $HARNESSES; do run_one "$h" 120 -seed=1 -runs="$runs" || failed=1; done
    exit $failed
    ;;
long)
    secs=${2:?seconds per harness}
    jobs=${3:-2}
    [ -x "$BIN" ] || build
    out=$SCRATCH/results.tsv
    header >"$out"
    start=$(date +%s)
    # JOBS lanes, harnesses dealt round-robin.
    lanes=()
    i=0
    for h in $HARNESSES; do lanes[$((i % jobs))]+="$h "; i=$((i + 1)); done
    pids=()
    for lane in "${lanes[@]}"; do
        ( f=0; for h in $lane; do run_one "$h" "$secs" >>"$out" || f=1; done; exit $f ) &
        pids+=($!)
    done
    failed=0
    for p in "${pids[@]}"; do wait "$p" || failed=1; done
    echo "wall: $(( $(date +%s) - start )) s" >>"$out"
    column -t -s $'\t' "$out"
    awk -F'\t' 'NR > 1 && $3 ~ /^[0-9]+$/ { s += $3 } END { print "total executions: " s }' "$out"
    exit $failed
    ;;
one)
    [ -x "$BIN" ] || build
    header
    run_one "${2:?harness}" "${3:-60}"
    ;;
repro)
    h=${2:?harness}; shift 2
    # SWIFT_BACKTRACE: the Swift runtime's crash handler would read memory ASan has poisoned and
    # report that instead of the trap itself.
    RECALL_FUZZ_HARNESS=$h SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 nice -n 5 "$BIN" -runs=1 -timeout=10 "$@"
    ;;
summary)
    { header; for h in $HARNESSES; do figures "$h"; done; } | column -t -s $'\t'
    for h in $HARNESSES; do figures "$h"; done | awk -F'\t' '{ s += $3 } END { print "total executions: " s }'
    ;;
*)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
