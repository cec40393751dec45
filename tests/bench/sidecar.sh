#!/usr/bin/env bash
# Sidecar benchmark (issue 3): the freeze window for a target of 200 processes holding 5k fds
# (goal < 100 ms), the idle RSS of serve (goal <= 1 MiB) and its idle CPU (goal 0: no wakeups).
# Not a test: numbers are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CAPTURE=$BUILD/afterimage-capture
export CONTAINERS_CONF=$ROOT/tests/containers.conf
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ai-bench-sc.XXXXXX")
NAME=ai-bench-sc-$$
SPID=
cleanup() {
	[[ -n $SPID ]] && kill -9 "$SPID" 2>/dev/null
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

ms=()
for i in 1 2 3 4 5; do
	r=$("$CAPTURE" trigger --socket "$TMP/s.sock" 2>&1)
	ms+=("$(grep -o '"freeze":{"frozen":true,"ms":[0-9.]*' <<<"$r" | grep -o '[0-9.]*$')")
	total=$(grep -o '"ms":[0-9.]*}*$' <<<"$r" | grep -o '[0-9.]*')
	rm -f "$TMP"/out/*
done
sorted=$(printf '%s\n' "${ms[@]}" | sort -n)
echo "freeze window over 5 captures: min $(head -1 <<<"$sorted") ms, median $(sed -n 3p <<<"$sorted") ms, max $(tail -1 <<<"$sorted") ms (goal < 100 ms); last capture total ${total} ms"
sleep 1
echo "idle RSS after 5 captures: $(rss)"
c0=$(cpu) x0=$(ctx)
sleep 5
echo "idle 5 s after captures: $(($(cpu) - c0)) CPU ticks, $(($(ctx) - x0)) context switches"
