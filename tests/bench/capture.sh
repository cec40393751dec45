#!/usr/bin/env bash
# Capture benchmark (issue: capture core). A target whose upperdir holds ~1 GiB in ~10k files;
# the capture's wall time is compared, in the same run, with the stock pipeline doing the same
# reading, archiving, writing and hashing:  tar -cf - UPPER | tee OUT.tar | openssl dgst -sha256
# Prints ratios (goal: time <= 1.0x the pipeline), peak RSS (goal <= 32 MiB) and the stripped
# static binary size (goal <= 4 MB). Not a test: numbers are printed, never asserted.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CAPTURE=$BUILD/afterimage-capture
export CONTAINERS_CONF=$ROOT/tests/containers.conf
FILES=${AI_BENCH_FILES:-10000}
KIB=${AI_BENCH_FILE_KIB:-105} # 10k x 105 KiB ~= 1 GiB
TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/ai-bench.XXXXXX")
NAME=ai-bench-$$
cleanup() {
	podman rm -f -t 0 "$NAME" >/dev/null 2>&1 || true
	rm -rf "$TMP"
}
trap cleanup EXIT

bash "$ROOT/scripts/build-test-image" "$BUILD" >/dev/null
podman run -d --name "$NAME" localhost/afterimage-test:3 sh -c "sleep 100000" >/dev/null
PID=$(podman inspect -f '{{.State.Pid}}' "$NAME")
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$NAME")
# Fill the upperdir from inside the container (it is the container's writes that we capture).
podman exec "$NAME" sh -c "mkdir -p /bulk && head -c $((KIB * 1024)) /dev/urandom > /seed && i=0 && \
	while [ \$i -lt $FILES ]; do d=/bulk/d\$((i / 100)); mkdir -p \$d; cp /seed \$d/f\$i; i=\$((i + 1)); done"
# make each file distinct (identical content would let a dedup-ing tool cheat)
podman exec "$NAME" sh -c "i=0; for f in /bulk/*/*; do echo \$i >> \$f; i=\$((i+1)); done"
bytes=$(du -sb "$UPPER" | cut -f1)
nfiles=$(find "$UPPER" -type f | wc -l)
"$CAPTURE" keygen -o "$TMP/key" >/dev/null
mkdir -p "$TMP/out"

now() { date +%s.%N; }
run_baseline() {
	local t0 t1
	rm -f "$TMP/base.tar"
	t0=$(now)
	tar -cf - -C "$UPPER" . | tee "$TMP/base.tar" | openssl dgst -sha256 >/dev/null
	t1=$(now)
	rm -f "$TMP/base.tar"
	echo "$t1 - $t0" | bc
}
run_capture() {
	local t0 t1 n=$1
	t0=$(now)
	/usr/bin/time -f %M -o "$TMP/rss.$n" "$CAPTURE" snapshot --pid "$PID" --key "$TMP/key.key" -o "$TMP/out" --name "b$n" >/dev/null
	t1=$(now)
	rm -f "$TMP/out/b$n.tar"
	echo "$t1 - $t0" | bc
}
# warm the page cache once for both, then alternate 3 rounds and keep the best of each
run_baseline >/dev/null
best_b=999999
best_c=999999
rss=0
for n in 1 2 3; do
	b=$(run_baseline)
	c=$(run_capture "$n")
	r=$(cat "$TMP/rss.$n")
	((r > rss)) && rss=$r
	best_b=$(echo "if ($b < $best_b) $b else $best_b" | bc)
	best_c=$(echo "if ($c < $best_c) $c else $best_c" | bc)
done
strip -o "$TMP/stripped" "$CAPTURE"
size=$(stat -c %s "$TMP/stripped")
printf 'capture: upperdir %d files, %.1f MiB\n' "$nfiles" "$(echo "$bytes / 1048576" | bc -l)"
printf 'capture: baseline tar|tee|openssl  %.2f s\n' "$best_b"
printf 'capture: afterimage snapshot       %.2f s   ratio %.2f (goal <= 1.00)\n' "$best_c" "$(echo "$best_c / $best_b" | bc -l)"
printf 'capture: peak RSS %.1f MiB (goal <= 32)\n' "$(echo "$rss / 1024" | bc -l)"
printf 'capture: stripped static binary %.2f MB (goal <= 4.00)\n' "$(echo "$size / 1000000" | bc -l)"
