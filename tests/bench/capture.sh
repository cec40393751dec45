#!/usr/bin/env bash
# Capture benchmark. A target whose upperdir holds ~1 GiB in ~10k files; `snapshot` is timed in
# alternating pairs (tests/bench/lib.sh) against the durable stock pipeline doing the same reading,
# archiving, writing, hashing and syncing:
#     tar -cf - UPPER | tee OUT.tar | openssl dgst -sha256; sync OUT.tar OUTDIR
# (the capture fsyncs its bundle and its directory; `sync FILE...` fsyncs each). Before every run,
# not timed, each deletes its previous output the same way: rm -f, then sync of its directory.
# Prints the ratio (goal: <= 0.90x the pipeline), peak RSS (goal <= 32 MiB) and the stripped static
# binary size (goal <= 4 MB) with what each library costs in it (scripts/size-breakdown). With
# AI_BENCH_BASE_BUILD=OTHER_BUILD also this build against that one in pairs (new/old). Not a test:
# numbers are printed, never asserted.
# Env: AI_BENCH_PAIRS (default 7), AI_BENCH_FILES (10000), AI_BENCH_FILE_KIB (105).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
CAPTURE=$BUILD/afterimage-capture
BASE=${AI_BENCH_BASE_BUILD:-}
[[ -z $BASE || $BASE == /* ]] || BASE=$ROOT/$BASE
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
sync
bytes=$(du -sb "$UPPER" | cut -f1)
nfiles=$(find "$UPPER" -type f | wc -l)
"$CAPTURE" keygen -o "$TMP/key" >/dev/null
mkdir -p "$TMP/new" "$TMP/old" "$TMP/pipe"
export PID UPPER TMP

# snap BINARY OUTDIR: one capture of the target into OUTDIR/b.tar (+ .minisig)
snap() { "$1" snapshot --pid "$PID" --key "$TMP/key.key" -o "$2" --name b; }
# pipeline OUT: the stock pipeline, then fsync of the archive and of its directory
pipeline() {
	tar -cf - -C "$UPPER" . | tee "$1" | openssl dgst -sha256 >/dev/null
	sync "$1" "$(dirname "$1")"
}
clear_snap() { rm -f "$1/b.tar" "$1/b.tar.minisig" && sync "$1"; }
clear_pipe() { rm -f "$TMP/pipe/base.tar" && sync "$TMP/pipe"; }

printf 'capture: upperdir %d files, %.1f MiB; pipeline = tar -cf - UPPER | tee OUT.tar | openssl dgst -sha256; sync OUT.tar OUTDIR\n' \
	"$nfiles" "$(echo "$bytes / 1048576" | bc -l)"
bench_pairs -a capture -b pipeline --prep-a "clear_snap $TMP/new" --prep-b clear_pipe \
	capture snap "$CAPTURE" "$TMP/new" -- pipeline "$TMP/pipe/base.tar"
bench_goal "capture: time / durable pipeline (median of pairs)" "${BENCH_RATIO[wall]}" "<=" 0.90 x
bench_goal "capture: peak RSS (max of runs)" "${BENCH_MAX_A[rss]}" "<=" 32 " MiB"
strip -o "$TMP/stripped" "$CAPTURE"
size=$(stat -c %s "$TMP/stripped")
bench_goal "capture: stripped static binary" "$(echo "$size / 1000000" | bc -l)" "<=" 4.00 " MB"
# what each library costs in it, from the link map (docs/release.md)
[[ ! -f $CAPTURE.map ]] || python3 "$ROOT/scripts/size-breakdown" "$CAPTURE" "$CAPTURE.map" | sed 's/^/  /'

if [[ -n $BASE ]]; then
	clear_snap "$TMP/new"
	bench_pairs -a new -b old --prep-a "clear_snap $TMP/new" --prep-b "clear_snap $TMP/old" \
		"capture new/old" snap "$CAPTURE" "$TMP/new" -- snap "$BASE/afterimage-capture" "$TMP/old"
	strip -o "$TMP/stripped-old" "$BASE/afterimage-capture"
	printf 'capture new/old stripped binary: new %.2f MB  old %.2f MB\n' "$(echo "$size / 1000000" | bc -l)" \
		"$(echo "$(stat -c %s "$TMP/stripped-old") / 1000000" | bc -l)"
fi
