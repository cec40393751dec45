#!/usr/bin/env bash
# Attribution throughput of afterimage-analyze layers: a generated OCI image of 10 plain-tar layers
# (1k, 10k, 100k tiny files each: 10k, 100k, 1M paths) with an upperdir of 0.5k/5k/50k entries, and
# the 1M one again with gzip layers (what registries serve).
# For each, `layers --stats` and `tar -tf` over the same layers run in alternating pairs after the
# generated files are synced (writeback of the 1 GiB image would otherwise steal the CPU it
# measures); tests/bench/lib.sh prints their wall times, peak RSS and ratio (median, min-max). The
# table then gives, from the medians: paths/s of the attribution (attr_s: the analyzer's own
# --stats), bytes per path of the path table and of the peak RSS, and tar -tf's time and paths/s.
# With AI_BENCH_BASE_BUILD=OTHER_BUILD also this build's analyzer against that one in pairs.
# Usage: tests/bench/analyze.sh [BUILD]   Env: AI_BENCH_PAIRS (default 7), AI_BENCH_ANALYZE_CONFIGS
# (FILES_PER_LAYER:tar|gzip..., default "1000:tar 10000:tar 100000:tar 100000:gzip").
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
. "$ROOT/tests/bench/lib.sh"
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
A=$BUILD/afterimage-analyze
BASE=${AI_BENCH_BASE_BUILD:-}
[[ -z $BASE || $BASE == /* ]] || BASE=$ROOT/$BASE
[[ -x $A ]] || { echo "analyze bench: $A not built" >&2; exit 1; }
[[ -z $BASE || -x $BASE/afterimage-analyze ]] || { echo "analyze bench: $BASE/afterimage-analyze not built" >&2; exit 1; }
mkdir -p "$ROOT/tests/tmp"
W=$(mktemp -d "$ROOT/tests/tmp/bench-analyze.XXXXXX")
trap 'rm -rf "$W"' EXIT
GEN=$W/analyze-gen
cc -O2 -o "$GEN" "$ROOT/tests/bench/analyze-gen.c" -larchive -lcrypto

# tar_list BLOB...: what tar -tf does over the layers
tar_list() {
	local b
	for b; do tar -tf "$b" >/dev/null; done
}
# stats_figures (a --post): the attribution's time from the analyzer's --stats line (its peak RSS
# there is the rss GNU time reports); the last line is kept in $W/stats
stats_figures() {
	local s
	s=$(grep '^stats:' "$BENCH_ERR") || { echo "analyze bench: no stats line" >&2; return 1; }
	echo "$s" >"$W/stats"
	echo "attr $(stat_get attr_s <<<"$s") s" >>"$BENCH_FIGURES"
}
stat_get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

echo "cores: $(nproc)"
rows=()
for cfg in ${AI_BENCH_ANALYZE_CONFIGS:-1000:tar 10000:tar 100000:tar 100000:gzip}; do
	per=${cfg%%:*} comp=${cfg#*:}
	d=$W/$per-$comp
	up=$((per / 2))
	gz=()
	[[ $comp == gzip ]] && gz=(gzip)
	"$GEN" "$d" 10 "$per" "$up" "${gz[@]}"
	sync
	blobs=()
	for b in "$d"/oci/blobs/sha256/*; do
		if (($(stat -c %s "$b") > 4096)); then blobs+=("$b"); fi
	done
	cmd=(layers "$d/bundle.tar" --image "oci:$d/oci" --stats --changed --quiet)
	bench_pairs -a analyze -b tar-tf --post-a stats_figures "analyze $((per * 10))-$comp" \
		"$A" "${cmd[@]}" -- tar_list "${blobs[@]}"
	paths=$(stat_get paths <"$W/stats")
	model=$(stat_get model_bytes_per_path <"$W/stats")
	attr=${BENCH_MED_A[attr]} tar_s=${BENCH_MED_B[wall]}
	rows+=("$(printf '%-8s %-6s %-8s %12.3f %12.0f %14s %12.0f %12.3f %10.0f' "$paths" "$comp" "$up" "$attr" \
		"$(echo "$paths / $attr" | bc -l)" "$model" "$(echo "${BENCH_MED_A[rss]} * 1048576 / $paths" | bc -l)" \
		"$tar_s" "$(echo "$paths / $tar_s" | bc -l)")")
	if [[ -n $BASE ]]; then
		bench_pairs -a new -b old --post-a stats_figures --post-b stats_figures "analyze new/old $((per * 10))-$comp" \
			"$A" "${cmd[@]}" -- "$BASE/afterimage-analyze" "${cmd[@]}"
	fi
	rm -rf "$d"
done
echo "medians over $BENCH_PAIRS_DEFAULT runs each:"
printf '%-8s %-6s %-8s %12s %12s %14s %12s %12s %10s\n' paths layers upper attr_s paths/s model_B/path rss_B/path tar-tf_s \
	tar_paths/s
printf '%s\n' "${rows[@]}"
echo "goal: >= 1M paths/s, linear; <= 200 B/path (model_B/path: the path table; rss_B/path: peak RSS incl. the upper index)"
