#!/usr/bin/env bash
# Attribution throughput of afterimage-analyze layers: a generated OCI image of 10 plain-tar layers
# (1k, 10k, 100k tiny files each: 10k, 100k, 1M paths) with an upperdir of 0.5k/5k/50k entries, and
# the 1M one again with gzip layers (what registries serve).
# Prints paths/s of the attribution and peak memory per path, beside `tar -tf` over the same layers
# measured in the same run. Each figure is the median of 3 runs after the generated files are synced
# (writeback of the 1 GiB image would otherwise steal the CPU it measures).
# Usage: tests/bench/analyze.sh [BUILD]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
[[ $BUILD == /* ]] || BUILD=$ROOT/$BUILD
A=$BUILD/afterimage-analyze
[[ -x $A ]] || { echo "analyze bench: $A not built" >&2; exit 1; }
mkdir -p "$ROOT/tests/tmp"
W=$(mktemp -d "$ROOT/tests/tmp/bench-analyze.XXXXXX")
trap 'rm -rf "$W"' EXIT
GEN=$W/analyze-gen
cc -O2 -o "$GEN" "$ROOT/tests/bench/analyze-gen.c" -larchive -lcrypto

now() { date +%s.%N; }
median() { sort -n | sed -n 2p; }
echo "cores: $(nproc)"
printf '%-8s %-6s %-8s %12s %12s %14s %12s %12s %10s\n' paths layers upper attr_s paths/s model_B/path rss_B/path tar-tf_s \
	tar_paths/s
for cfg in 1000:tar 10000:tar 100000:tar 100000:gzip; do
	per=${cfg%%:*} comp=${cfg#*:}
	d=$W/$per-$comp
	up=$((per / 2))
	"$GEN" "$d" 10 "$per" "$up" $([[ $comp == gzip ]] && echo gzip)
	sync
	# tar -tf over the same 10 layers
	tars=()
	for rep in 1 2 3; do
		t0=$(now)
		for b in "$d"/oci/blobs/sha256/*; do
			[[ $(stat -c %s "$b") -gt 4096 ]] && tar -tf "$b" >/dev/null
		done
		t1=$(now)
		tars+=("$(echo "$t1 - $t0" | bc -l)")
	done
	tar_s=$(printf '%s\n' "${tars[@]}" | median)
	attrs=() rsss=()
	for rep in 1 2 3; do
		stats=$("$A" layers "$d/bundle.tar" --image "oci:$d/oci" --stats --changed --quiet 2>&1 >/dev/null | grep '^stats:')
		get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$stats"; }
		attrs+=("$(get attr_s)")
		rsss+=("$(get maxrss_kib)")
	done
	paths=$(get paths)
	attr=$(printf '%s\n' "${attrs[@]}" | median)
	rss=$(printf '%s\n' "${rsss[@]}" | median)
	printf '%-8s %-6s %-8s %12.3f %12.0f %14s %12.0f %12.3f %10.0f\n' "$paths" "$comp" "$up" "$attr" "$(echo "$paths / $attr" | bc -l)" \
		"$(get model_bytes_per_path)" "$(echo "$rss * 1024 / $paths" | bc -l)" "$tar_s" \
		"$(echo "$paths / $tar_s" | bc -l)"
	rm -rf "$d"
done
echo "goal: >= 1M paths/s, linear; <= 200 B/path (model_B/path: the path table; rss_B/path: peak RSS incl. the upper index)"
