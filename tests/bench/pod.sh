#!/usr/bin/env bash
# Pod benchmark: the freeze window (manifest freeze.ms) of `snapshot --pod` over a pod of three
# app containers (200 processes and 5k fds in all) against `snapshot --pid` of one container of the
# same size (200 processes, 5k fds), in alternating pairs in the same run (tests/bench/lib.sh): the
# pod's window should grow with the work, not with the number of containers. Volumes off (--volumes
# none) and the upperdir is near empty: the window is what is measured, the rest is not frozen.
# Then the analyzer: findings --image over the pod's bundle (each of the three containers attributed
# on its own against the image, in one walk of it) against the one container's bundle.
# Usage: tests/bench/pod.sh [BUILD]. Not a test: numbers are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CAPTURE=$BUILD/afterimage-capture
export CONTAINERS_CONF=$ROOT/tests/containers.conf
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ai-bench-pod.XXXXXX")
POD=ai-bench-pod-$$ ONE=ai-bench-one-$$
cleanup() {
	podman pod rm -f -t 0 "$POD" >/dev/null 2>&1 || true
	podman rm -f -t 0 "$ONE" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

bash "$ROOT/scripts/build-test-image" "$BUILD" >/dev/null
# N sleeps inheriting 25 fds (3..27) from their shell: N+1 processes, 25*(N+1) fds plus stdio
run_sleeps() { # NAME N [podman run args...]
	local name=$1 n=$2
	shift 2
	local redir
	redir=$(for fd in $(seq 3 27); do printf '%d</etc/passwd ' "$fd"; done)
	podman run -d --name "$name" "$@" localhost/afterimage-test:3 sh -c \
		"exec $redir; i=0; while [ \$i -lt $n ]; do sleep 100000 & i=\$((i + 1)); done; touch /tmp/ready; wait" >/dev/null
	for ((i = 0; i < 300; i++)); do podman exec "$name" test -f /tmp/ready 2>/dev/null && break; sleep 0.1; done
	podman inspect -f '{{.State.Pid}}' "$name"
}
count() { # PID...: processes and fds of those containers' trees
	local np=0 nf=0 p
	for p in "$@" $(for x in "$@"; do pgrep -P "$x"; done); do
		np=$((np + 1))
		nf=$((nf + $(ls "/proc/$p/fd" | wc -l)))
	done
	echo "$np processes, $nf fds"
}
podman pod create --name "$POD" --share pid,net,ipc,uts >/dev/null
P1=$(run_sleeps "$POD-a" 66 --pod "$POD")
P2=$(run_sleeps "$POD-b" 66 --pod "$POD")
P3=$(run_sleeps "$POD-c" 65 --pod "$POD")
PONE=$(run_sleeps "$ONE" 199)
echo "pod: 3 containers, $(count "$P1" "$P2" "$P3"); one container: $(count "$PONE")"

"$CAPTURE" keygen -o "$TMP/k" >/dev/null
mkdir -p "$TMP/pod" "$TMP/one"
after() { # OUTDIR (a --post): the freeze window of the bundle just written, then delete it
	local b m v
	b=$(ls "$1"/*.tar) && m=$(tar -xOf "$b" manifest.json) || { echo "pod bench: no bundle in $1" >&2; return 1; }
	v=$(grep -o '"freeze":{"frozen":true,"ms":[0-9.]*' <<<"$m" | grep -o '[0-9.]*$') ||
		{ echo "pod bench: $b was not frozen" >&2; return 1; }
	echo "freeze $v ms" >>"$BENCH_FIGURES"
	[[ $1 != */pod ]] || echo "containers $(grep -o '"index":' <<<"$m" | wc -l) n" >>"$BENCH_FIGURES"
	rm -f "$1"/*
}
bench_pairs --no-rss -a pod -b one --post-a "after $TMP/pod" --post-b "after $TMP/one" "pod/one" \
	"$CAPTURE" snapshot --pid "$P1" --pod --volumes none -k "$TMP/k.key" -o "$TMP/pod" -- \
	"$CAPTURE" snapshot --pid "$PONE" --volumes none -k "$TMP/k.key" -o "$TMP/one"
echo "pod: freeze window of 3 containers ${BENCH_MED_A[freeze]} ms vs one container of the same size ${BENCH_MED_B[freeze]} ms (median; ratio ${BENCH_RATIO[freeze]})"

ANALYZE=$BUILD/afterimage-analyze
"$CAPTURE" snapshot --pid "$P1" --pod --volumes none -k "$TMP/k.key" -o "$TMP/pod" -n podb >/dev/null
"$CAPTURE" snapshot --pid "$PONE" --volumes none -k "$TMP/k.key" -o "$TMP/one" -n oneb >/dev/null
podman save --format oci-dir -o "$TMP/oci" localhost/afterimage-test:3 >/dev/null 2>&1
bench_pairs -a pod -b one "findings/pod/one" \
	"$ANALYZE" findings "$TMP/pod/podb.tar" --image "oci:$TMP/oci" --quiet -- \
	"$ANALYZE" findings "$TMP/one/oneb.tar" --image "oci:$TMP/oci" --quiet
echo "pod: findings --image over 3 containers (each its own attribution) vs one container: median ratio ${BENCH_RATIO[wall]:-?} (wall), ${BENCH_RATIO[rss]:-?} (max RSS)"
