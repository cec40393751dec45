#!/usr/bin/env bash
# diff A B through the overlay, on two real captures of one podman container with a known set of
# changes made between them: an image file deleted (a whiteout in B), an image file copied up by an
# append, a copy-up by chmod only (content as in the image), a same-size content change, a mode and
# an mtime change, a runtime file deleted, a file added, a process started and one killed, a listener
# opened and a connection closed. Text and --json, with and without --image (the layer of each
# path), and a bundle against the checkpoint archive. Then the image check: the right image, a
# foreign build of the same recipe, the 2-layer parent image (the bundle's recorded image id, from
# containers/storage, decides first), and a checkpoint archive whose recorded image id matches one
# image and not another.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze
A=$ANALYZE
DATA=$ROOT/tests/data/podman-checkpoint

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-diff-$$"
N=$T_TARGET_NAME
P=$T_TARGET_PID
OUT=$T_TMP/out
mkdir -p "$OUT"
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
t_ok "capture A" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name a

x() { podman exec "$N" sh -c "$1"; }
x 'rm /etc/passwd'                                      # image file (layer 2): whiteout
x 'echo more >> /etc/group'                             # image file (layer 2): copy-up
x 'chmod 0644 /etc/shadow'                              # image file (layer 1): copy-up, metadata only
x 'printf "%042d" 7 > /etc/config.txt'                  # upper file: same size (42), new content
x 'chmod 0600 /data/old-atime.txt'                      # upper file: mode only
x 'touch -m -d "2020-02-02 02:02:02" /data/hardlink.txt' # upper file: mtime only (both names)
x 'rm /data/fifo'                                       # runtime file: gone, no whiteout
x 'echo between > /data/between.txt'                    # new file
x 'rm -rf /home && mkdir /home && echo x > /home/new'   # image dir (layer 1) replaced: opaque
podman exec -d "$N" sleep 100777 >/dev/null                       # a new process
podman exec -d "$N" nc -ll -p 9393 -e /bin/cat >/dev/null         # a new listener
for ((i = 0; i < 50; i++)); do x 'netstat -tln | grep -q ":9393 "' && break; sleep 0.1; done
ours() { pgrep --ns "$P" --nslist pid -f "$1" | head -1; } # this container's, not another test's
kill "$(ours '^sleep 100002$')"                          # a vanished process
kill "$(ours '^nc 127.0.0.1 9090$')"                     # a closed connection
sleep 0.3
t_ok "capture B" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name b
BA=$OUT/a.tar BB=$OUT/b.tar

# row DESC ERE TEXT: one line of TEXT matches ERE
row() { t_match "$1" "$2" "$(grep -E -m1 -e "$2" <<<"$3")"; }
t_match "a bundle against itself: nothing" '^0 differences$' "$("$A" diff "$BA" "$BA")"
d=$("$A" diff "$BA" "$BB")
row "image file removed: deleted (whiteout), not added" '^- file +deleted +/etc/passwd +\(whiteout\)' "$d"
t_empty "no whiteout reported as added" "$(grep -E '^\+ .*/etc/passwd' <<<"$d")"
row "append to an image file: a copy-up, modified" '^~ file +modified +/etc/group +\(copy-up\)' "$d"
row "same size, new content: modified by sha256" \
	'^~ file +modified +/etc/config.txt +\(content, 42 -> 42 bytes \(same size\), sha256 [0-9a-f]{64} -> [0-9a-f]{64}' "$d"
row "chmod: metadata" '^~ file +metadata +/data/old-atime.txt +\(mode 0644 -> 0600' "$d"
row "touch -m: metadata (mtime)" '^~ file +metadata +/data/hardlink.txt +\(mtime .* -> 2020-02-02T02:02:02' "$d"
row "runtime file removed: deleted" '^- file +deleted +/data/fifo$' "$d"
row "new file: added" '^\+ file +added +/data/between.txt$' "$d"
row "image dir removed and re-made: modified (opaque)" '^~ file +modified +/home +\(opaque: replaces the image' "$d"
row "a file in it: added" '^\+ file +added +/home/new$' "$d"
row "new process, by command line" '^\+ process new +.*: sleep 100777 +\(pid [0-9]+\)' "$d"
row "vanished process" '^- process vanished +.*: sleep 100002 +\(pid [0-9]+\)' "$d"
row "new listener, with its owner" '^\+ socket +new +tcp6? LISTEN .*:9393 .*\(nc\[[0-9]+\]\)' "$d"
row "closed connection: vanished" '^- socket +vanished +tcp ESTABLISHED 127.0.0.1:\* -> 127.0.0.1:9090' "$d"
t_empty "unchanged processes are not listed" "$(grep -E 'httpd -f -p 8080' <<<"$d")"
t_empty "unchanged files are not listed" "$(grep -E '/etc/app/new.conf' <<<"$d")"

# ---- with the image: the layer each changed path came from
IMG=oci-archive:$T_TMP/image.tar
podman save --format oci-archive -o "$T_TMP/image.tar" localhost/afterimage-test:3 >/dev/null 2>&1
di=$("$A" diff "$BA" "$BB" --image "$IMG" --quiet)
row "--image: the deleted file came from layer 2" '^- file +deleted +/etc/passwd +\(whiteout; layer 2\)' "$di"
row "--image: chmod-only copy-up is metadata (content as in the image), layer 1" \
	'^~ file +metadata +/etc/shadow +\(copy-up, content as in the image; layer 1\)' "$di"
row "--image: append copy-up names both hashes, layer 2" \
	'^~ file +modified +/etc/group +\(copy-up, sha256 [0-9a-f]{64} -> [0-9a-f]{64}; layer 2\)' "$di"
row "--image: the opaque dir names the layer it replaces" '^~ file +modified +/home +\(opaque: .*; layer 1\)' "$di"
row "--image: a runtime file is not in the image" '^\+ file +added +/data/between.txt +\(not in the image\)' "$di"

# ---- --json
dj=$("$A" diff "$BA" "$BB" --image "$IMG" --json --quiet)
t_ok "--json parses" jq -e .changes <<<"$dj"
t_eq "--json count equals the rows" "$(jq '.changes|length' <<<"$dj")" "$(jq .count <<<"$dj")"
t_eq "--json: the whiteout row" 'file deleted 2 null' \
	"$(jq -r '.changes[]|select(.key=="/etc/passwd")|"\(.section) \(.change) \(.layer) \(.after)"' <<<"$dj")"
t_eq "--json: same-size content change keeps both hashes and sizes" "42 42 true" \
	"$(jq -r '.changes[]|select(.key=="/etc/config.txt")|"\(.before.size) \(.after.size) \(.before.sha256 != .after.sha256)"' <<<"$dj")"
t_eq "--json: metadata row" metadata "$(jq -r '.changes[]|select(.key=="/data/old-atime.txt").change' <<<"$dj")"
t_match "--json: process rows carry the pid" '^[0-9]+$' \
	"$(jq -r '.changes[]|select(.section=="process" and .change=="new").pid' <<<"$dj" | head -1)"
t_eq "--json: no container field for a one-container bundle" 0 "$(jq '[.changes[]|select(has("container"))]|length' <<<"$dj")"

# ---- a bundle against a checkpoint archive (no origin xattrs: copy-ups are told by the image)
dc=$("$A" diff "$BB" "$DATA/checkpoint.tar" 2>&1)
rc=$?
t_eq "bundle vs checkpoint archive: exit 0" 0 "$rc"
t_match "bundle vs checkpoint archive: a count" '[0-9]+ differences?$' "$dc"
# the archive has no entry for directories and image files changed in place: never "deleted"
t_empty "bundle vs checkpoint: a copied-up image file is not called deleted" "$(grep -E '^- file +deleted +/etc/config.txt' <<<"$dc")"
t_empty "bundle vs checkpoint: a directory is not called deleted" "$(grep -E '^- file +deleted +/(etc|data|tmp)( |$)' <<<"$dc")"
t_match "bundle vs checkpoint: what cannot be compared is counted" \
	'[0-9]+ paths? not compared: a checkpoint archive records no directory and no image file changed in place' "$dc"
t_match "bundle vs checkpoint: a runtime file the archive has is still compared" '^~ file +modified +/data/log.txt' \
	"$(grep -E -e '/data/log.txt' <<<"$dc")"
t_ok "checkpoint vs bundle --json parses" sh -c '"$0" diff "$1" "$2" --json | jq -e .count >/dev/null' \
	"$A" "$DATA/checkpoint.tar" "$BB"

# ---- the image check: is --image the image the container ran?
FOREIGN=oci-archive:$DATA/image-oci-archive.tar # the same recipe built elsewhere: another holder
podman save --format oci-archive -o "$T_TMP/image2.tar" localhost/afterimage-test:2 >/dev/null 2>&1
IMG2=oci-archive:$T_TMP/image2.tar
ck() { "$A" layers "$1" --image "$2" --json --quiet 2>"$T_TMP/ck.err" | jq -c "$3"; }
t_eq "right image: verdict match, exes and the storage layer chain checked, no warning" '["match",true,0,true,3]' \
	"$(ck "$BB" "$IMG" '[.image_check.verdict,.image_check.exe_checked>0,.image_check.exe_mismatched,.image_check.chain_match,.image_check.chain_checked]')"
t_empty "right image: nothing on stderr" "$(cat "$T_TMP/ck.err")"
t_eq "foreign build: mismatch on the layer chain (its diff_ids differ)" '["mismatch",false]' \
	"$(ck "$BB" "$FOREIGN" '[.image_check.verdict,.image_check.chain_match]')"
t_eq "right image: the image id the capture recorded matches" true "$(ck "$BB" "$IMG" '.image_check.id_match')"
t_match "foreign build: first, the recorded image id is not the image's" \
	"the container ran image $(podman inspect -f '{{.Image}}' "$N"); the image is config sha256:fccaf8c6" \
	"$(ck "$BB" "$FOREIGN" '.image_check.reasons[0]')"
t_match "foreign build: the reasons name the storage layer and the image's chain id" \
	"lowerdir 3 is storage layer [0-9a-f]{64}, the image's layer 1 is [0-9a-f]{64}" \
	"$(ck "$BB" "$FOREIGN" '.image_check.reasons[1]')"
t_match "foreign build: and a running exe the image does not have" 'running /usr/bin/holder is not in the image' \
	"$(ck "$BB" "$FOREIGN" '.image_check.reasons[2]')"
t_match "foreign build: a warning line on stderr, one a reason" \
	'^warning: --image oci-archive:[^
]*image-oci-archive.tar is not the image the container ran: the container ran image [0-9a-f]{64}; [^
]*
warning: --image oci-archive:[^
]*image-oci-archive.tar is not the image the container ran: lowerdir 3 [^
]*
warning: --image oci-archive:[^
]*image-oci-archive.tar is not the image the container ran: running /usr/bin/holder is not in the image$' \
	"$(cat "$T_TMP/ck.err")"
t_match "foreign build: the warning is in layers --json warnings too" 'image mismatch: running /usr/bin/holder' \
	"$(ck "$BB" "$FOREIGN" '.warnings')"
t_eq "the 2-layer parent image: mismatch on the layer chain" '["mismatch",false,2,3]' \
	"$(ck "$BB" "$IMG2" '[.image_check.verdict,.image_check.layers_match,.image_check.image_layers,.image_check.lowerdirs]')"
t_match "findings --json carries the check" '"verdict":"mismatch"' \
	"$("$A" findings "$BB" --image "$IMG2" --json --quiet 2>/dev/null | jq -c .image_check)"
t_match "diff --json carries the check" '"verdict":"mismatch"' \
	"$("$A" diff "$BA" "$BB" --image "$FOREIGN" --json --quiet 2>/dev/null | jq -c .image_check)"
t_match "report shows it" 'image mismatch: running /usr/bin/holder' \
	"$("$A" report "$BB" --image "$FOREIGN" -o "$T_TMP/r.html" --quiet 2>/dev/null; cat "$T_TMP/r.html")"
# a checkpoint archive records the image id (config.dump rootfsImageID)
t_eq "checkpoint with its own image: the recorded id matches" '["match",true]' \
	"$(ck "$DATA/checkpoint.tar" "$FOREIGN" '[.image_check.verdict,.image_check.id_match]')"
t_eq "checkpoint with another image: the recorded id does not" '["mismatch",false]' \
	"$(ck "$DATA/checkpoint.tar" "$IMG" '[.image_check.verdict,.image_check.id_match]')"
t_match "checkpoint with another image: the warning names both ids" \
	'ran image fccaf8c6[0-9a-f]{56}; the image is config sha256:[0-9a-f]{64}, manifest sha256:[0-9a-f]{64}' \
	"$(cat "$T_TMP/ck.err")"
