#!/usr/bin/env bash
# Hostile files in the target's upperdir on a real podman container: a 1 TiB sparse file, a
# sparse file with data at known offsets, a file over --file-cap, a file with more xattrs than
# are kept, a file appended to while read; then the budgets (--upper-budget, --output-budget)
# and an output directory too small for the bundle. Every cut is logged and marked, a budget
# cut is a sealed partial bundle that stock tools verify, never a full disk.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case I-01 'issue case 1 and 6: a 1 TiB sparse file and a sparse file with data extents in the target, files over --file-cap, --upper-budget and a tiny --output-budget, more than 64 xattrs, a file appended to while read'

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-hostile-$$"
P=$T_TARGET_PID
N=$T_TARGET_NAME
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$N")
[[ -d $UPPER ]] || t_bail "upperdir of the target" "$UPPER"
inside() { podman exec "$N" sh -c "$1"; }
j() { jq -r "$@" 2>&1; }
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
K=(--key "$T_TMP/k.key")

# ---- the hostile files, written by the target itself
t_ok "a 1 TiB sparse file in the target" inside 'truncate -s 1099511627776 /tmp/huge'
SMALL=$((48 << 20))
t_ok "a 48 MiB sparse file with data at three known offsets" inside "truncate -s $SMALL /data/sparse &&
	printf alpha-at-8195 | dd of=/data/sparse bs=1 seek=8195 conv=notrunc 2>/dev/null &&
	head -c 100000 /usr/bin/holder | dd of=/data/sparse bs=4096 seek=5000 conv=notrunc 2>/dev/null &&
	printf omega-at-the-end | dd of=/data/sparse bs=1 seek=$((SMALL - 16)) conv=notrunc 2>/dev/null"
t_ok "a 3 MiB dense file" inside 'dd if=/dev/urandom of=/data/big bs=1048576 count=3 2>/dev/null'
inside 'echo xattrs >/data/xattrs.txt'
for i in $(seq 1 80); do setfattr -n "user.a$i" -v "v$i" "$UPPER/data/xattrs.txt" || break; done
NX=$(getfattr -d -m - "$UPPER/data/xattrs.txt" 2>/dev/null | grep -c '=')
t_ok "more than 64 xattrs on the host's copy of /data/xattrs.txt ($NX)" test "$NX" -gt 64
t_ok "a 4 MiB file appended to in a loop while captured" inside 'head -c 4194304 /dev/zero >/data/grow.log'
podman exec -d "$N" >/dev/null sh -c 'while [ ! -e /tmp/stop-append ]; do echo appended-line >>/data/grow.log; done'
SHA_SPARSE=$(inside 'sha256sum /data/sparse' | cut -d' ' -f1)
SHA_BIG1M=$(inside 'head -c 1048576 /data/big | sha256sum' | cut -d' ' -f1)

# ---- defaults: the 1 TiB file is cut at the 256 MiB file cap, its holes never written
OUT=$T_TMP/out
mkdir -p "$OUT"
t0=$(date +%s%N)
t_ok "snapshot with the defaults exits 0 (a per-file cap is not a partial bundle)" \
	"$CAPTURE" snapshot --pid "$P" "${K[@]}" -o "$OUT" --name b1
t1=$(date +%s%N)
inside 'touch /tmp/stop-append'
ms=$(((t1 - t0) / 1000000))
B=$OUT/b1.tar
size=$(stat -c %s "$B" 2>/dev/null || echo 0)
t_diag "capture with the 1 TiB sparse file: $ms ms, bundle $size bytes"
t_ok "the bundle is small (< 64 MiB: no hole was written)" test "$size" -gt 0 -a "$size" -lt $((64 << 20))
t_ok "it finished in a bounded time (< 120 s, loose: timing belongs to bench)" test "$ms" -lt 120000
t_empty "no .partial file is left" "$(ls "$OUT" | grep partial)"
t_ok "minisign verifies the bundle" minisign -Vm "$B" -p "$T_TMP/k.pub"
X=$T_TMP/x
mkdir -p "$X"
t_ok "GNU tar extracts it" tar -xf "$B" -C "$X"
t_ok "sha256sum -c SHA256SUMS passes" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
t_ok "afterimage-analyze verifies it" "$ANALYZE" verify "$B" --pub "$T_TMP/k.pub" --quiet
UJ=$X/fs/upper.json
E() { j ".entries[]|select(.path==\"$1\")|$2" "$UJ"; }
t_eq "1 TiB file: logical size in the index" 1099511627776 "$(E /tmp/huge .size)"
t_eq "1 TiB file: cut at the file cap" "true file_cap 268435456 true" \
	"$(E /tmp/huge '"\(.truncated) \(.cut) \(.stored_size) \(.sparse)"')"
t_eq "1 TiB file: extracts to the stored size" 268435456 "$(stat -c %s "$X/fs/upper/tmp/huge" 2>&1)"
t_eq "1 TiB file: the hash covers what is stored (256 MiB of zeros)" \
	"$(head -c 268435456 /dev/zero | sha256sum | cut -d' ' -f1)" "$(E /tmp/huge .sha256)"
t_match "1 TiB file: the cut is logged" 'larger than the file cap: kept the first 268435456 of 1099511627776' \
	"$(j '.events[]|select(.level=="truncated" and .path=="tmp/huge").message' "$X/capture-log.json")"
t_eq "sparse file: whole, with its holes found" "false $SMALL true null" \
	"$(E /data/sparse '"\(.truncated) \(.stored_size) \(.sparse) \(.cut)"')"
t_eq "sparse file: the index hash is sha256sum's inside the container" "$SHA_SPARSE" "$(E /data/sparse .sha256)"
t_eq "sparse file: GNU tar restores its logical size" "$SMALL" "$(stat -c %s "$X/fs/upper/data/sparse" 2>&1)"
t_eq "sparse file: and its content" "$SHA_SPARSE" "$(sha256sum "$X/fs/upper/data/sparse" | cut -d' ' -f1)"
t_ok "sparse file: stored as a pax sparse member" grep -aq "GNU.sparse.realsize=$SMALL" "$B"
XB=$T_TMP/xb
mkdir -p "$XB"
bsdtar -xf "$B" -C "$XB" fs/upper/data/sparse 2>/dev/null
t_eq "sparse file: bsdtar restores it too" "$SHA_SPARSE" "$(sha256sum "$XB/fs/upper/data/sparse" 2>&1 | cut -d' ' -f1)"
t_eq "xattrs: the ones not kept are counted in the index" $((NX - 64)) "$(E /data/xattrs.txt .xattrs_dropped)"
t_eq "xattrs: 64 kept" 64 "$(E /data/xattrs.txt '.xattrs|length')"
t_match "xattrs: the cut is logged" 'more than 64 xattrs' \
	"$(j '.events[]|select(.path=="data/xattrs.txt").message' "$X/capture-log.json")"
t_eq "appended file: stored bytes and hash agree" "$(E /data/grow.log .sha256)" \
	"$(sha256sum "$X/fs/upper/data/grow.log" | cut -d' ' -f1)"
t_eq "appended file: stored size is the extracted size" "$(E /data/grow.log .stored_size)" \
	"$(stat -c %s "$X/fs/upper/data/grow.log")"
t_eq "the manifest records the limits" "268435456 2147483648 false false" \
	"$(j '.limits|"\(.file_cap) \(.upper_budget) \(.budget_cut) \(.output_budget_reached)"' "$X/manifest.json")"
t_eq "complete" true "$(j .complete "$X/manifest.json")"

# ---- --file-cap
t_ok "snapshot --file-cap 1048576 exits 0" "$CAPTURE" snapshot --pid "$P" "${K[@]}" -o "$OUT" --name b2 --file-cap 1048576
X2=$T_TMP/x2
mkdir -p "$X2" && tar -xf "$OUT/b2.tar" -C "$X2" 2>/dev/null
E2() { j ".entries[]|select(.path==\"$1\")|$2" "$X2/fs/upper.json"; }
t_eq "a file over --file-cap is cut and recorded" "true file_cap 3145728 1048576" \
	"$(E2 /data/big '"\(.truncated) \(.cut) \(.size) \(.stored_size)"')"
t_eq "its hash is that of its first MiB, read inside the container" "$SHA_BIG1M" "$(E2 /data/big .sha256)"
t_eq "the file cap alone leaves the bundle complete" true "$(j .complete "$X2/manifest.json")"

# ---- --upper-budget
t_fail "snapshot --upper-budget 8388608 exits 3 (partial)" \
	"$CAPTURE" snapshot --pid "$P" "${K[@]}" -o "$OUT" --name b3 --upper-budget 8388608
t_match "it says partial" '"complete":false' "$(cat "$T_TMP/.t_out")"
t_ok "minisign verifies the partial bundle" minisign -Vm "$OUT/b3.tar" -p "$T_TMP/k.pub"
X3=$T_TMP/x3
mkdir -p "$X3" && tar -xf "$OUT/b3.tar" -C "$X3" 2>/dev/null
t_ok "its sha256sum -c passes" bash -c "cd '$X3' && sha256sum -c --quiet SHA256SUMS"
t_eq "complete: false, with no error, by the budget" "false 0 true" \
	"$(j '"\(.complete) \(.errors) \(.limits.budget_cut)"' "$X3/manifest.json")"
t_match "files are cut or left out by the upper budget, and marked" 'upper_budget' \
	"$(j '[.entries[]|select(.cut!=null)|.cut]|unique|join(",")' "$X3/fs/upper.json")"
t_ok "the upperdir content stored stays within the budget" \
	test "$(j '[.entries[]|select(.type=="file")|.stored_size // 0]|add' "$X3/fs/upper.json")" -le 8388608
t_match "the budget cut is logged" 'upperdir budget' "$(j '.events[].message' "$X3/capture-log.json")"

# ---- --output-budget
t_fail "snapshot --output-budget 65536 exits 3 (partial)" \
	"$CAPTURE" snapshot --pid "$P" "${K[@]}" -o "$OUT" --name b4 --output-budget 65536
t_ok "the bundle is sealed and minisign verifies it" minisign -Vm "$OUT/b4.tar" -p "$T_TMP/k.pub"
t_empty "no .partial file is left" "$(ls "$OUT" | grep partial)"
X4=$T_TMP/x4
mkdir -p "$X4" && tar -xf "$OUT/b4.tar" -C "$X4" 2>/dev/null
t_ok "its sha256sum -c passes" bash -c "cd '$X4' && sha256sum -c --quiet SHA256SUMS"
t_eq "complete: false, with no error, the output budget reached" "false 0 true" \
	"$(j '"\(.complete) \(.errors) \(.limits.output_budget_reached)"' "$X4/manifest.json")"
t_eq "a deleted-open file the budget refused is marked" output_budget \
	"$(j "[.fds[]|select(.pid==$P and .fd==3)|.cut][0]" "$X4/fds.json")"
t_match "the refusals are logged" 'output budget of 65536 bytes reached' "$(j '.events[].message' "$X4/capture-log.json")"
t_match "and marked in the index" 'output_budget' "$(j '[.entries[].cut]|unique|join(",")' "$X4/fs/upper.json")"
t_ok "the bundle is small (< 2 MiB: the documents and the seal on top of the budget)" \
	test "$(stat -c %s "$OUT/b4.tar")" -lt $((2 << 20))

# ---- an output directory smaller than the bundle: the budget follows the free space
SMALLFS=$T_TMP/smallfs
mkdir -p "$SMALLFS"
if mount -t tmpfs -o size=8m none "$SMALLFS"; then
	t_cleanup "umount $(printf '%q' "$SMALLFS")"
	t_fail "snapshot into an 8 MiB filesystem exits 3 (partial), not 1" \
		"$CAPTURE" snapshot --pid "$P" "${K[@]}" -o "$SMALLFS" --name b5
	t_ok "the bundle is sealed and minisign verifies it" minisign -Vm "$SMALLFS/b5.tar" -p "$T_TMP/k.pub"
	t_empty "no .partial file is left" "$(ls "$SMALLFS" | grep partial)"
	t_match "the lowered budget is logged" 'output budget lowered' \
		"$(tar -xOf "$SMALLFS/b5.tar" capture-log.json 2>/dev/null | jq -r '.events[].message')"
else
	t_skip "output directory smaller than the bundle" "cannot mount a tmpfs"
fi
t_case_end 'holes never read or written (pax sparse members, stock tar/bsdtar restore the logical content and sha256), every cut recorded in the index and log, budget cuts make a sealed partial bundle; xattrs past 64 logged and counted' "whole test: ${SECONDS} s"
