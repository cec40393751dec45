#!/usr/bin/env bash
# Sidecar benchmark (issue 3): the freeze window for a target of 200 processes holding 5k fds
# (goal < 100 ms), the idle RSS of serve (goal <= 1 MiB) and its idle CPU (goal 0: no wakeups).
# Not a test: numbers are printed, never asserted.
# Usage: tests/bench/sidecar.sh [BUILD [OTHER_BUILD]]. With OTHER_BUILD, both serves watch the same
# target and are triggered alternately (AI_BENCH_N rounds each, default 5), so a machine loaded by
# others weighs on both alike: the way to compare a change with the binary before it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CAPTURE=$BUILD/afterimage-capture
OTHER=${2:-}
[[ -z $OTHER || $OTHER == /* ]] || OTHER=$ROOT/$OTHER
N=${AI_BENCH_N:-5}
export CONTAINERS_CONF=$ROOT/tests/containers.conf
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ai-bench-sc.XXXXXX")
NAME=ai-bench-sc-$$
SPID= OPID=
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
mkdir -p "$TMP/out"
"$CAPTURE" serve --key "$TMP/k.key" -o "$TMP/out" --listen none --socket "$TMP/s.sock" --target-pid "$PID" \
	2>"$TMP/log" &
SPID=$!
for ((i = 0; i < 100; i++)); do grep -q listening "$TMP/log" 2>/dev/null && break; sleep 0.05; done

rss() { sed -n 's/^VmRSS:[[:space:]]*//p' "/proc/$SPID/status"; }
cpu() { awk '{print $14 + $15}' "/proc/$SPID/stat"; }
ctx() { awk '/voluntary_ctxt_switches/ {s += $2} END {print s}' "/proc/$SPID/status"; }
sleep 1
echo "idle RSS after start: $(rss) (goal <= 1024 kB)"
c0=$(cpu) x0=$(ctx)
sleep 5
echo "idle 5 s: $(($(cpu) - c0)) CPU ticks, $(($(ctx) - x0)) context switches (goal 0)"

# One capture through serve socket $1: prints "FREEZE_MS PROCESSES_MS FDS_MS TOTAL_MS" (the
# collectors' ms from capture-log.json: both halves, frozen and after the thaw).
capture() {
	local r f log total
	r=$("$CAPTURE" trigger --socket "$1" 2>&1)
	f=$(grep -o '"freeze":{"frozen":true,"ms":[0-9.]*' <<<"$r" | grep -o '[0-9.]*$')
	log=$(tar -xOf "$(ls "$TMP"/out/*.tar | head -1)" capture-log.json 2>/dev/null | grep -o '"collectors":.*' || true)
	total=$(grep -o '"ms":[0-9.]*}*$' <<<"$r" | grep -o '[0-9.]*')
	rm -f "$TMP"/out/*
	echo "$f $(grep -o '"name":"processes","ms":[0-9.]*' <<<"$log" | grep -o '[0-9.]*$') $(grep -o '"name":"fds","ms":[0-9.]*' <<<"$log" | grep -o '[0-9.]*$') $total"
}
# min/median/max of column $2 of the lines in $1
stats() {
	local sorted n
	sorted=$(awk -v c="$2" '{print $c}' <<<"$1" | sort -n)
	n=$(wc -l <<<"$sorted")
	echo "min $(head -1 <<<"$sorted"), median $(sed -n "$(((n + 1) / 2))p" <<<"$sorted"), max $(tail -1 <<<"$sorted")"
}
report() {
	echo "$1 freeze window over $N captures: $(stats "$2" 1) ms (goal < 100 ms)"
	echo "$1   processes collector: $(stats "$2" 2) ms; fds collector: $(stats "$2" 3) ms (both halves); whole capture: $(stats "$2" 4) ms"
}

if [[ -n $OTHER ]]; then
	"$OTHER/afterimage-capture" serve --key "$TMP/k.key" -o "$TMP/out" --listen none --socket "$TMP/o.sock" \
		--target-pid "$PID" 2>"$TMP/olog" &
	OPID=$!
	for ((i = 0; i < 100; i++)); do grep -q listening "$TMP/olog" 2>/dev/null && break; sleep 0.05; done
	a= b=
	for ((i = 0; i < N; i++)); do
		a+=$(capture "$TMP/s.sock")$'\n'
		b+=$(capture "$TMP/o.sock")$'\n'
	done
	report "$BUILD:" "${a%$'\n'}"
	report "$OTHER:" "${b%$'\n'}"
	exit 0
fi

a=
for ((i = 0; i < N; i++)); do
	a+=$(capture "$TMP/s.sock")$'\n'
done
report "" "${a%$'\n'}"
sleep 1
echo "idle RSS after $N captures: $(rss)"
c0=$(cpu) x0=$(ctx)
sleep 5
echo "idle 5 s after captures: $(($(cpu) - c0)) CPU ticks, $(($(ctx) - x0)) context switches"
