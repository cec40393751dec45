#!/usr/bin/env bash
# Sidecar benchmark: the freeze window for a target of 200 processes holding 5k fds (goal <= 30 ms),
# the idle RSS of serve (goal <= 1 MiB) and its idle CPU (goal 0: no wakeups).
# The freeze window is freeze.ms of each bundle's manifest.json, over AI_BENCH_PAIRS captures
# triggered through serve after a warm-up one (tests/bench/lib.sh: median, min-max), beside the
# collectors' ms from capture-log.json and the capture's own ms from the trigger reply.
# Usage: tests/bench/sidecar.sh [BUILD [OTHER_BUILD]] (OTHER_BUILD defaults to $AI_BENCH_BASE_BUILD).
# With OTHER_BUILD, both serves watch the same target and are triggered in alternating pairs, so a
# machine loaded by others weighs on both alike: the way to compare a change with the binary before
# it (ratios new/old). Not a test: numbers are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CAPTURE=$BUILD/afterimage-capture
OTHER=${2:-${AI_BENCH_BASE_BUILD:-}}
[[ -z $OTHER || $OTHER == /* ]] || OTHER=$ROOT/$OTHER
export CONTAINERS_CONF=$ROOT/tests/containers.conf
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ai-bench-sc.XXXXXX")
NAME=ai-bench-sc-$$
SPID='' OPID=''
cleanup() {
	# disown first: bash would report the killed jobs
	[[ -n $SPID ]] && { disown "$SPID" 2>/dev/null; kill -9 "$SPID" 2>/dev/null; }
	[[ -n $OPID ]] && { disown "$OPID" 2>/dev/null; kill -9 "$OPID" 2>/dev/null; }
	podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

bash "$ROOT/scripts/build-test-image" "$BUILD" >/dev/null
# 25 fds opened by the shell (3..27), inherited by 200 sleeps: 200 processes, 5000 fds
redir=$(for fd in $(seq 3 27); do printf '%d</etc/passwd ' "$fd"; done)
podman run -d --name "$NAME" localhost/afterimage-test:3 sh -c \
	"exec $redir; i=0; while [ \$i -lt 200 ]; do sleep 100000 & i=\$((i + 1)); done; touch /tmp/ready; wait" >/dev/null
for ((i = 0; i < 300; i++)); do podman exec "$NAME" test -f /tmp/ready 2>/dev/null && break; sleep 0.1; done
PID=$(podman inspect -f '{{.State.Pid}}' "$NAME")
nproc=$(pgrep -c -P "$PID" || true)
nfd=0
for p in $PID $(pgrep -P "$PID"); do nfd=$((nfd + $(ls "/proc/$p/fd" | wc -l))); done
echo "target: $((nproc + 1)) processes, $nfd fds"

"$CAPTURE" keygen -o "$TMP/k" >/dev/null
mkdir -p "$TMP/out" "$TMP/out-old"
# start_serve VAR BINARY SOCKET OUTDIR LOG: starts serve, sets VAR to its pid once it listens
start_serve() {
	"$2" serve --key "$TMP/k.key" -o "$4" --listen none --socket "$3" --target-pid "$PID" 2>"$5" &
	printf -v "$1" %s $!
	local i
	for ((i = 0; i < 100; i++)); do grep -q listening "$5" 2>/dev/null && break; sleep 0.05; done
	grep -q listening "$5" || { echo "sidecar bench: $2 serve did not start" >&2; cat "$5" >&2; return 1; }
}
start_serve SPID "$CAPTURE" "$TMP/s.sock" "$TMP/out" "$TMP/log"

rss() { sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$SPID/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
ctx() { awk '/voluntary_ctxt_switches/ {s += $2} END {print s}' "/proc/$SPID/status"; }
sleep 1
echo "idle RSS after start: $(rss) (goal <= 1024 kB)"
c0=$(cpu) x0=$(ctx)
sleep 5
echo "idle 5 s: $(($(cpu) - c0)) CPU ticks, $(($(ctx) - x0)) context switches (goal 0)"

# after_capture OUTDIR (a --post, not timed): the figures of the capture just triggered, from its
# manifest (freeze.ms), capture log (the processes and fds collectors: both halves, frozen and
# after the thaw) and the trigger's reply (the whole capture); then deletes the bundle.
after_capture() {
	local b m log v c
	if ! b=$(ls "$1"/*.tar) || ! m=$(tar -xOf "$b" manifest.json) || ! log=$(tar -xOf "$b" capture-log.json); then
		echo "sidecar bench: no readable bundle in $1" >&2
		return 1
	fi
	v=$(grep -o '"freeze":{"frozen":true,"ms":[0-9.]*' <<<"$m" | grep -o '[0-9.]*$') ||
		{ echo "sidecar bench: $b was not frozen: $(grep -o '"freeze":{[^}]*}' <<<"$m")" >&2; return 1; }
	echo "freeze $v ms" >>"$BENCH_FIGURES"
	log=$(grep -o '"collectors":.*' <<<"$log")
	for c in processes fds; do
		v=$(grep -o "\"name\":\"$c\",\"ms\":[0-9.]*" <<<"$log" | head -1 | grep -o '[0-9.]*$')
		echo "$c $v ms" >>"$BENCH_FIGURES"
	done
	v=$(grep -o '"ms":[0-9.]*}*$' "$BENCH_OUT" | grep -o '[0-9.]*')
	echo "capture $v ms" >>"$BENCH_FIGURES"
	rm -f "$1"/*
}

if [[ -n $OTHER ]]; then
	start_serve OPID "$OTHER/afterimage-capture" "$TMP/o.sock" "$TMP/out-old" "$TMP/olog"
	bench_pairs --no-wall --no-rss -a new -b old --post-a "after_capture $TMP/out" \
		--post-b "after_capture $TMP/out-old" "sidecar new/old" \
		"$CAPTURE" trigger --socket "$TMP/s.sock" -- "$OTHER/afterimage-capture" trigger --socket "$TMP/o.sock"
else
	bench_runs --no-wall --no-rss --post-a "after_capture $TMP/out" sidecar \
		"$CAPTURE" trigger --socket "$TMP/s.sock"
fi
bench_goal "sidecar: freeze window for $((nproc + 1)) processes, $nfd fds (median)" "${BENCH_MED_A[freeze]}" "<=" 30 " ms"
sleep 1
echo "idle RSS after $((BENCH_PAIRS_DEFAULT + 1)) captures: $(rss)"
c0=$(cpu) x0=$(ctx)
sleep 5
echo "idle 5 s after captures: $(($(cpu) - c0)) CPU ticks, $(($(ctx) - x0)) context switches"
