#!/usr/bin/env bash
# afterimage-analyze over a real Podman checkpoint archive (podman container checkpoint --export,
# the format of Kubernetes' forensic checkpointing on CRI-O) from tests/data and its real
# 3-layer image: files (sha256 against the inner rootfs-diff.tar), layers (the workload's
# statuses, as far as the format can express them), findings, timeline through the stock mactime,
# report, ps from the CRIU images, verify ("no signature", exit 5), and truncated / garbled /
# recompressed copies of the archive (a clear error, exit 3, never a crash).
. "$(dirname "$0")/../lib.sh"
t_require_analyze
A=$ANALYZE
DATA=$ROOT/tests/data/podman-checkpoint
if [[ ! -f $DATA/checkpoint.tar || ! -f $DATA/image-oci-archive.tar ]]; then
	t_bail "checkpoint archive" "no $DATA (committed under tests/data)"
fi
CK=$DATA/checkpoint.tar
IMG=oci-archive:$DATA/image-oci-archive.tar

# ---- files: every rootfs-diff.tar entry, sha256 as the inner tar's own bytes give it
t_ok "files on a checkpoint archive" "$A" files "$CK"
F=$T_TMP/files.json
"$A" files "$CK" --json >"$F"
t_ok "files --json is JSON" jq -e '.files | length > 0' "$F"
tar -xOf "$CK" rootfs-diff.tar >"$T_TMP/rootfs-diff.tar"
t_ok "the inner rootfs-diff.tar is readable by tar" tar -tf "$T_TMP/rootfs-diff.tar"
nreg=0
while IFS= read -r f; do
	[[ $f == */ ]] && continue
	[[ $(tar -tvf "$T_TMP/rootfs-diff.tar" "$f" | cut -c1) == - ]] || continue
	nreg=$((nreg + 1))
	want=$(tar -xOf "$T_TMP/rootfs-diff.tar" "$f" | sha256sum | cut -d' ' -f1)
	got=$(jq -r --arg p "/${f#./}" '.files[] | select(.path==$p) | .sha256' "$F")
	t_eq "files: /${f#./} sha256 matches the inner tar" "$want" "$got"
done < <(tar -tf "$T_TMP/rootfs-diff.tar")
t_eq "files: every regular entry of rootfs-diff.tar listed" "$nreg" \
	"$(jq '[.files[] | select(.type=="file" and .member=="rootfs-diff.tar")] | length' "$F")"
t_eq "files: /data/written.txt size and mode" "15 0644" \
	"$(jq -r '.files[] | select(.path=="/data/written.txt") | "\(.size) \(.mode)"' "$F")"
t_eq "files: /hello.sh from deleted.files is a whiteout" "whiteout" \
	"$(jq -r '.files[] | select(.path=="/hello.sh") | .type' "$F")"
t_eq "files: /etc/app (deleted.files, re-created) is an opaque dir" "dir opaque" \
	"$(jq -r '.files[] | select(.path=="/etc/app") | "\(.type) \(.overlay | join(","))"' "$F")"

# ---- layers against the real image
L=$T_TMP/layers.json
t_ok "layers --image on a checkpoint archive" sh -c '"$0" layers "$1" --image "$2" --json >"$3"' "$A" "$CK" "$IMG" "$L"
st() { jq -r --arg p "$1" '.paths[] | select(.path==$p) | "\(.status) \(.layer // "-")"' "$L"; }
t_eq "/data/written.txt added" "added -" "$(st /data/written.txt)"
t_eq "/data/log.txt added" "added -" "$(st /data/log.txt)"
t_eq "/hello.sh deleted (layer 3)" "deleted 3" "$(st /hello.sh)"
t_eq "/etc/app replaced (opaque over the layer-3 dir)" "replaced 3" "$(st /etc/app)"
t_eq "/etc/app/app.conf deleted under it" "deleted 3" "$(st /etc/app/app.conf)"
t_eq "/etc/app/new.conf added under it" "added -" "$(st /etc/app/new.conf)"
t_eq "/bin/ls removed by layer 3 itself" "layer-deleted 1" "$(st /bin/ls)"
# podman's rootfs-diff.tar carries only additions: the in-place append to /etc/config.txt is not
# in the archive, so it stays the layer-2 file, and a warning says why.
t_eq "/etc/config.txt: layer 2 (its modification is not in the archive)" "image 2" "$(st /etc/config.txt)"
t_match "warning: modified files are not in a checkpoint archive" "modified in place .* not in the archive" \
	"$(jq -r '.warnings[]' "$L")"
t_eq "untouched /bin/busybox from layer 1" "image 1" "$(st /bin/busybox)"
t_eq "/etc/passwd rewritten by layer 2" "image 2" "$(st /etc/passwd)"
t_match "text table" 'replaced +3 +/etc/app' "$("$A" layers "$CK" --image "$IMG" --changed 2>&1)"

# ---- processes from the CRIU images (pstree.img, core-N.img)
P=$("$A" ps "$CK" --json)
t_eq "ps: 10 processes from checkpoint/pstree.img" 10 "$(jq '.processes | length' <<<"$P")"
t_eq "ps: pid 1 is sh" "sh" "$(jq -r '.processes[] | select(.pid==1) | .comm' <<<"$P")"
t_eq "ps: httpd is a child of 1" "1" "$(jq -r '.processes[] | select(.comm=="httpd") | .ppid' <<<"$P")"
t_eq "ps: uid from the CRIU creds" "0" "$(jq -r '.processes[] | select(.pid==1) | .uid' <<<"$P")"

# ---- findings, timeline, report
t_ok "findings --image on a checkpoint archive" "$A" findings "$CK" --image "$IMG"
t_ok "findings --json" sh -c '"$0" findings "$1" --image "$2" --json | jq -e .findings >/dev/null' "$A" "$CK" "$IMG"
"$A" timeline "$CK" --image "$IMG" --format bodyfile >"$T_TMP/body" 2>"$T_TMP/body.err"
t_eq "timeline bodyfile: exit 0" 0 "$?"
mactime -b "$T_TMP/body" -d 2000-01-01 >"$T_TMP/mac.csv" 2>"$T_TMP/mac.err"
t_eq "mactime -b loads the bodyfile" 0 "$?"
t_empty "mactime: no complaints" "$(cat "$T_TMP/mac.err")"
t_match "mactime: the added file" '/data/written.txt \(added\)' "$(cat "$T_TMP/mac.csv")"
t_match "mactime: the deletion from deleted.files" '/hello.sh \(deleted: deleted.files' "$(cat "$T_TMP/mac.csv")"
t_match "mactime: the checkpoint time" 'checkpointed' "$(cat "$T_TMP/mac.csv")"
t_match "mactime: the container creation time" 'Nov 24 2026 14:23:04.*container target created' "$(cat "$T_TMP/mac.csv")"
t_ok "timeline jsonl" sh -c '"$0" timeline "$1" --format jsonl | jq -e . >/dev/null' "$A" "$CK"
t_ok "report on a checkpoint archive" "$A" report "$CK" --image "$IMG" -o "$T_TMP/r.html" --quiet
t_match "report names the source" "checkpoint archive .*not signed" "$(cat "$T_TMP/r.html")"
t_match "report names the image" "localhost/ml:3" "$(cat "$T_TMP/r.html")"

# ---- verify: a distinct "no signature" result
"$A" verify "$CK" >"$T_TMP/v.out" 2>&1; rc=$?
t_eq "verify: exit 5 (checkpoint archive, no signature)" 5 "$rc"
t_match "verify: says no signature" "NOT SIGNED: .*checkpoint archive.*no signature" "$(cat "$T_TMP/v.out")"
"$A" verify "$CK" --pub /nonexistent.pub >/dev/null 2>&1; rc=$?
t_eq "verify: exit 5 with --pub too" 5 "$rc"

# ---- compression: plain and gzip copies give the same model
zstd -dcq "$CK" >"$T_TMP/plain.tar"
gzip -c "$T_TMP/plain.tar" >"$T_TMP/ck.tar.gz"
for v in plain.tar ck.tar.gz; do
	t_eq "$v: the same files" "$(jq -c . "$F")" "$("$A" files "$T_TMP/$v" --json | jq -c .)"
done

# ---- hostile copies: truncated, garbled, empty; never a crash, always exit 3 and a clear error
bad() { # DESC FILE REGEX
	local out rc
	out=$(timeout 60 "$A" files "$2" 2>&1); rc=$?
	t_eq "$1: exit 3" 3 "$rc"
	t_match "$1: clear error" "$3" "$out"
	out=$(timeout 60 "$A" layers "$2" --image "$IMG" 2>&1); rc=$?
	t_eq "$1: layers exit 3" 3 "$rc"
}
sz=$(stat -c %s "$CK")
head -c $((sz / 2)) "$CK" >"$T_TMP/trunc.tar"
bad "truncated (zstd)" "$T_TMP/trunc.tar" "unreadable|[Tt]runcated|[Dd]ecompression|premature"
psz=$(stat -c %s "$T_TMP/plain.tar")
# cut the plain tar inside rootfs-diff.tar's data
off=$(grep -abo 'evidence-upper' "$T_TMP/plain.tar" | head -1 | cut -d: -f1)
head -c $((off + 4)) "$T_TMP/plain.tar" >"$T_TMP/trunc-inner.tar"
bad "truncated inside rootfs-diff.tar" "$T_TMP/trunc-inner.tar" "rootfs-diff.tar|[Tt]runcated"
head -c $((psz / 3)) "$T_TMP/plain.tar" >"$T_TMP/trunc-plain.tar"
bad "truncated (plain)" "$T_TMP/trunc-plain.tar" "[Tt]runcated|unreadable"
cp "$CK" "$T_TMP/garbled.tar"
printf '\xde\xad\xbe\xef%.0s' $(seq 64) | dd of="$T_TMP/garbled.tar" bs=1 seek=$((sz / 3)) conv=notrunc status=none
bad "garbled (zstd)" "$T_TMP/garbled.tar" "unreadable|[Cc]orrupt|[Dd]ecompression|checksum|error"
cp "$T_TMP/plain.tar" "$T_TMP/garbled-pstree.tar"
off=$(grep -abo 'checkpoint/pstree.img' "$T_TMP/plain.tar" | head -1 | cut -d: -f1)
printf '\xff\xff\xff\xff\xff\xff\xff\xff' | dd of="$T_TMP/garbled-pstree.tar" bs=1 seek=$((off + 512 + 8)) conv=notrunc status=none
bad "garbled pstree.img" "$T_TMP/garbled-pstree.tar" "pstree.img"
head -c 10000 /dev/urandom >"$T_TMP/random.tar"
bad "random bytes" "$T_TMP/random.tar" "not an afterimage bundle or checkpoint archive|[Uu]nrecognized"
printf '[' >"$T_TMP/deleted.files"
(cd "$T_TMP" && tar -cf bad-json.tar deleted.files && printf '{"id":"x"' >config.dump && tar -rf bad-json.tar config.dump)
bad "malformed config.dump" "$T_TMP/bad-json.tar" "config.dump|deleted.files"
