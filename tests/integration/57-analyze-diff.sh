#!/usr/bin/env bash
# diff A B through the overlay, on two real captures of one podman container with a known set of
# changes made between them: an image file deleted (a whiteout in B), an image file copied up by an
# append, a copy-up by chmod only (content as in the image), a same-size content change, a mode and
# an mtime change, a runtime file deleted, a file added, a process started and one killed, a listener
# opened and a connection closed. Text and --json, with and without --image (the layer of each
# path), and a bundle against the checkpoint archive.
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
t_ok "checkpoint vs bundle --json parses" sh -c '"$0" diff "$1" "$2" --json | jq -e .count >/dev/null' \
	"$A" "$DATA/checkpoint.tar" "$BB"
