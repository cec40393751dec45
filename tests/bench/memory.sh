#!/usr/bin/env bash
# Memory capture benchmark: 10 processes of one container, each with 64 MiB of touched anonymous
# memory (tests/fixtures/memprog 64).
#   1. MiB/s of core written: `snapshot --memory --freeze` (cores hashed into the bundle, the bundle
#      signed) beside gdb's `gcore` of the same 10 processes, in alternating pairs in the same run.
#      MiB/s = bytes of cores / wall time of the whole command.
#   2. The freeze window (freeze.ms of the manifest) of `snapshot --freeze` with and without --memory.
# Usage: tests/bench/memory.sh [BUILD]. Not a test: numbers are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
export CAPTURE=$BUILD/afterimage-capture
MEMPROG=$BUILD/tests/fixtures/memprog
export CONTAINERS_CONF=$ROOT/tests/containers.conf
command -v gcore >/dev/null || { echo "memory bench: gcore (gdb) is not installed"; exit 1; }
[[ -x $MEMPROG ]] || { echo "memory bench: $MEMPROG is not built (make)"; exit 1; }
export TMP
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ai-bench-mem.XXXXXX")
NAME=ai-bench-mem-$$
cleanup() {
	podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

NPROC=10 MIB=64
bash "$ROOT/scripts/build-test-image" "$BUILD" >/dev/null
podman run -d --name "$NAME" -v "$MEMPROG:/memprog:ro" localhost/afterimage-test:3 sh -c \
	"i=0; while [ \$i -lt $NPROC ]; do /memprog $MIB & i=\$((i + 1)); done; wait" >/dev/null
export PID
PID=$(podman inspect -f '{{.State.Pid}}' "$NAME")
# ready when every memprog has touched its memory (RSS past MIB MiB)
for ((i = 0; i < 300; i++)); do
	n=0
	for p in $(pgrep -P "$PID" -x memprog); do
		rss=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
		((rss > MIB * 1024)) && n=$((n + 1))
	done
	((n == NPROC)) && break
	sleep 0.1
done
export PIDS
PIDS=$(pgrep -P "$PID" -x memprog | tr '\n' ' ')
echo "target: $NPROC processes x $MIB MiB touched anonymous memory (pids $PIDS; the shell too)"
"$CAPTURE" keygen -o "$TMP/k" >/dev/null
mkdir -p "$TMP/out" "$TMP/gcore"

# rate BYTES T0: MiB/s since T0
rate() { awk -v b="$1" -v t0="$2" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b / 1048576 / (t1 - t0) }'; }

ours() {
	rm -f "$TMP/out/m.tar" "$TMP/out/m.tar.minisig"
	local t0=$EPOCHREALTIME
	"$CAPTURE" snapshot --pid "$PID" --key "$TMP/k.key" -o "$TMP/out" --name m --memory --freeze >/dev/null
	local r bytes
	bytes=$(tar -tvf "$TMP/out/m.tar" | awk '$6 ~ /^memory\/.*\.core$/ {s += $3} END {print s + 0}')
	r=$(rate "$bytes" "$t0")
	echo "core_rate $r MiB/s" >>"$BENCH_FIGURES"
	echo "core_MiB $((bytes >> 20)) MiB" >>"$BENCH_FIGURES"
	echo "freeze $(tar -xOf "$TMP/out/m.tar" manifest.json | jq .freeze.ms) ms" >>"$BENCH_FIGURES"
}

theirs() {
	rm -f "$TMP"/gcore/core.*
	local t0=$EPOCHREALTIME
	# shellcheck disable=SC2086 # one pid per word
	gcore -o "$TMP/gcore/core" $PIDS >/dev/null 2>&1
	local bytes
	bytes=$(cat "$TMP"/gcore/core.* | wc -c)
	echo "core_rate $(rate "$bytes" "$t0") MiB/s" >>"$BENCH_FIGURES"
	echo "core_MiB $((bytes >> 20)) MiB" >>"$BENCH_FIGURES"
}

plain() {
	rm -f "$TMP/out/p.tar" "$TMP/out/p.tar.minisig"
	"$CAPTURE" snapshot --pid "$PID" --key "$TMP/k.key" -o "$TMP/out" --name p --freeze >/dev/null
	echo "freeze $(tar -xOf "$TMP/out/p.tar" manifest.json | jq .freeze.ms) ms" >>"$BENCH_FIGURES"
}

PAIRS=${AI_BENCH_PAIRS:-5}
echo "-- cores: snapshot --memory --freeze (A) vs gcore (B), the same $NPROC processes"
bench_pairs -n "$PAIRS" -a ours -b gcore --no-rss cores ours -- theirs
echo "-- freeze window: snapshot --freeze with --memory (A) vs without (B)"
bench_pairs -n "$PAIRS" -a memory -b plain --no-rss --no-wall freeze ours -- plain
