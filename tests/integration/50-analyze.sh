#!/usr/bin/env bash
# afterimage-analyze against a real bundle of the real workload container and the real 3-layer
# image in its three forms (podman oci-dir, podman oci-archive, skopeo docker-archive): verify
# (good, tampered, other key, truncated), views, attribution of every path the workload touched,
# findings, timelines through the stock mactime, diff, safe extraction; plus the real Podman
# checkpoint archive and OCI archive from shared/testdata as hostile / foreign inputs.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze
A=$ANALYZE
NAME=ai-analyze-$$
t_target "$NAME"

# Extra runtime changes beyond the workload: a binary copied into /tmp and run, a setuid file,
# an image executable modified, an image file copied up with the same content (touch: metadata).
podman exec "$NAME" sh -c 'cp /usr/bin/holder /tmp/runtime-bin && chmod 4755 /bin/busybox 2>/dev/null; true'
podman exec -d "$NAME" /tmp/runtime-bin idle
podman exec "$NAME" sh -c 'cp /bin/busybox /tmp/suid-shell && chmod 4755 /tmp/suid-shell'
podman exec "$NAME" sh -c 'echo "# tampered at runtime" >> /usr/bin/workload'
podman exec "$NAME" sh -c 'touch /etc/group'
for _ in $(seq 50); do podman exec "$NAME" pgrep -x runtime-bin >/dev/null 2>&1 && break; sleep 0.1; done
# a process of the image's account app (uid and gid 1000, from layer 2's /etc/passwd)
podman exec -d -u 1000:1000 "$NAME" sleep 100050
for _ in $(seq 50); do pgrep -f 'sleep 100050' >/dev/null && break; sleep 0.1; done

K=$T_TMP/key
KG=$("$CAPTURE" keygen -o "$K" 2>&1)
t_match "keygen" '"key_id":"[0-9A-F]{16}"' "$KG"
t_ok "keygen (another key)" "$CAPTURE" keygen -o "$T_TMP/other"
mkdir -p "$T_TMP/out"
t_ok "capture a bundle" "$CAPTURE" snapshot --pid "$T_TARGET_PID" --key "$K.key" -o "$T_TMP/out" --name b1
B=$T_TMP/out/b1.tar
podman exec "$NAME" sh -c 'echo between > /data/between.txt; echo more >> /etc/config.txt'
t_ok "capture a second bundle" "$CAPTURE" snapshot --pid "$T_TARGET_PID" --key "$K.key" -o "$T_TMP/out" --name b2
B2=$T_TMP/out/b2.tar

# ---- the image in its three forms
IMG=localhost/afterimage-test:3
t_ok "podman save oci-dir" podman save --format oci-dir -o "$T_TMP/ocidir" "$IMG"
t_ok "podman save oci-archive" podman save --format oci-archive -o "$T_TMP/oci.tar" "$IMG"
t_ok "skopeo copy docker-archive" skopeo copy -q "containers-storage:$IMG" "docker-archive:$T_TMP/docker.tar"

# ---- verify
t_ok "verify a good bundle" "$A" verify "$B" --pub "$K.pub"
t_match "verify names the key id" "verified: .* \(key id [0-9A-F]{16}\)" "$("$A" verify "$B" --pub "$K.pub" 2>&1)"
# one key-id form everywhere: keygen's JSON, verify's line, the public key's comment, minisign's own
kid=$(jq -r .key_id <<<"$KG")
t_eq "verify prints the key id keygen printed" "$kid" \
	"$("$A" verify "$B" --pub "$K.pub" 2>&1 | sed -nE 's/.*\(key id ([0-9A-F]{16})\).*/\1/p')"
t_eq "the public key's comment has the same key id" "untrusted comment: minisign public key $kid" "$(head -1 "$K.pub")"
# the same number: Debian 12's minisign (0.11) prints it without leading zeros, later ones pad it
# to 16 digits as afterimage does (one key in 16 has a leading zero: a string compare would flake)
t_match "stock minisign names the same key id (checked against another key)" "Signature key id in .* is 0*$(sed 's/^0*//' <<<"$kid")[[:space:]]" \
	"$(minisign -Vm "$B" -p "$T_TMP/other.pub" 2>&1)"
# a key whose id has a leading zero (one in 16), found by trying: the same key to both tools
mkdir -p "$T_TMP/z"
for ((i = 0; i < 400; i++)); do
	zk=$("$CAPTURE" keygen -o "$T_TMP/z/k$i" 2>&1 | grep -o '"key_id":"[0-9A-F]*"' | cut -d'"' -f4)
	[[ $zk == 0* ]] && break
	rm -f "$T_TMP/z/k$i.key" "$T_TMP/z/k$i.pub"
done
t_match "a key id with a leading zero: keygen prints all 16 digits" '^0[0-9A-F]{15}$' "$zk"
echo evidence >"$T_TMP/z/f"
"$CAPTURE" seal "$T_TMP/z/f" --key "$T_TMP/z/k$i.key" -o "$T_TMP/z" --name zs >/dev/null 2>&1
t_ok "a key id with a leading zero: stock minisign verifies with it" minisign -Vm "$T_TMP/z/zs.tar" -p "$T_TMP/z/k$i.pub"
t_eq "a key id with a leading zero: verify names the same 16 digits" "verified: $T_TMP/z/zs.tar (key id $zk)" \
	"$("$A" verify "$T_TMP/z/zs.tar" --pub "$T_TMP/z/k$i.pub" 2>&1 | tail -1)"
t_match "a key id with a leading zero: minisign's error names the same number" "Signature key id in .* is 0*$(sed 's/^0*//' <<<"$zk")[[:space:]]" \
	"$(minisign -Vm "$T_TMP/z/zs.tar" -p "$T_TMP/other.pub" 2>&1)"
out=$("$A" verify "$B" --pub "$T_TMP/other.pub" 2>&1); rc=$?
t_eq "other key: exit 1" 1 "$rc"
t_match "other key: outer signature named" "FAIL outer signature .*b1.tar.minisig: signed by another key" "$out"
t_match "other key: SHA256SUMS.minisig named" "FAIL signature SHA256SUMS.minisig: signed by another key" "$out"

cp "$B" "$T_TMP/tampered.tar"; cp "$B.minisig" "$T_TMP/tampered.tar.minisig"
# flip one byte inside processes.json's content (its data follows its header)
off=$(grep -abo '"processes":' "$T_TMP/tampered.tar" | head -1 | cut -d: -f1)
printf 'X' | dd of="$T_TMP/tampered.tar" bs=1 seek=$((off + 2)) conv=notrunc status=none
out=$("$A" verify "$T_TMP/tampered.tar" --pub "$K.pub" 2>&1); rc=$?
t_eq "tampered byte: exit 1" 1 "$rc"
t_match "tampered byte: outer signature fails" "FAIL outer signature .*verification failed" "$out"
t_match "tampered byte: the member is named" "FAIL member processes.json: sha256 [0-9a-f]+ does not match SHA256SUMS" "$out"

head -c $(($(stat -c %s "$B") / 2)) "$B" >"$T_TMP/trunc.tar"; cp "$B.minisig" "$T_TMP/trunc.tar.minisig"
out=$("$A" verify "$T_TMP/trunc.tar" --pub "$K.pub" 2>&1); rc=$?
t_eq "truncated: exit 1" 1 "$rc"
t_match "truncated: archive reported" "FAIL (archive|member .*): .*[Tt]runcated" "$out"
cp "$B" "$T_TMP/nosig.tar"
out=$("$A" verify "$T_TMP/nosig.tar" --pub "$K.pub" 2>&1); rc=$?
t_eq "missing .minisig: exit 1" 1 "$rc"
"$A" verify /nonexistent.tar --pub "$K.pub" >/dev/null 2>&1; rc=$?
t_eq "unreadable bundle: exit 3" 3 "$rc"
"$A" verify "$B" >/dev/null 2>&1; rc=$?
t_eq "usage error: exit 2" 2 "$rc"
t_ok "stock minisign agrees on the outer signature" minisign -Vm "$B" -p "$K.pub" -q

# ---- views
ps=$("$A" ps "$B" --json)
t_eq "ps --json: the workload is pid 1 in its namespace" "/usr/bin/workload" \
	"$(jq -r '.processes[] | select(.nspid==1) | .cmdline[1]' <<<"$ps")"
t_eq "ps --json: tree depth of sleep 100001 is 2" 2 \
	"$(jq -r '.processes[] | select(.cmdline==["sleep","100001"]) | .depth' <<<"$ps")"
t_match "ps table indents the tree" '\\_ sleep 100001' "$("$A" ps "$B")"
AP=$(pgrep -f 'sleep 100050' | head -1)
t_match "ps --pid --image: the uid's account name, from the image's /etc/passwd" \
	'^uid +1000 1000 1000 1000 \(real effective saved fs\) app \(/etc/passwd of the image\)$' \
	"$("$A" ps "$B" --pid "$AP" --image "oci:$T_TMP/ocidir" 2>&1 | grep '^uid')"
t_match "ps --pid: the gid's, from the /etc/group the container copied up (touch)" \
	'^gid +1000 1000 1000 1000 app \(/etc/group of the upperdir\)$' "$("$A" ps "$B" --pid "$AP" 2>&1 | grep '^gid')"
t_eq "ps --pid --json: the names and where each came from; without --image the image's are unknown" \
	'{"user":"app","user_from":"image","group":"app"} {"user":null,"user_from":null,"group":"app"}' \
	"$("$A" ps "$B" --pid "$AP" --image "oci:$T_TMP/ocidir" --json | jq -c '{user,user_from,group}') $("$A" ps "$B" --pid "$AP" --json | jq -c '{user,user_from,group}')"
# fd 3 is inherited by init's children: its content is stored once, through the lowest pid
# holding it (after a pid wrap, a child's pid can be lower than init's)
fdsj=$("$A" fds "$B" --json)
low=$(jq -r '[.fds[] | select(.fd==3 and .deleted==true) | .pid] | min' <<<"$fdsj")
rec=$(jq -r --argjson p "$T_TARGET_PID" '.fds[] | select(.pid==$p and .fd==3) | .recovered' <<<"$fdsj")
t_eq "fds --json: init fd 3 is deleted with recovered content (stored via the lowest pid)" "fds/recovered/$low-3" "$rec"
t_eq "fds --json: that member holds the deleted file's content" "to-be-deleted" "$(bsdtar -xOf "$B" "$rec" 2>&1)"
net=$("$A" net "$B" --json)
t_eq "net --json: httpd listens on :8080 (tcp6)" "httpd" \
	"$(jq -r '.sockets[] | select(.state=="LISTEN" and .local_port==8080) | .owners[0].comm' <<<"$net")"
t_match "net table shows the abstract socket" '@afterimage-abstract' "$("$A" net "$B")"
t_eq "mounts --json: 3 lowerdirs" 3 "$(jq -r '.overlay.lowerdirs' <<<"$("$A" mounts "$B" --json)")"
files=$("$A" files "$B" --json)
t_eq "files --json: the hostile name keeps its bytes" "2f646174612f6261640a6e616d65ff" \
	"$(jq -r '.files[] | select(.path_hex) | .path_hex' <<<"$files")"
t_match "files table escapes the hostile name" '/data/bad\\x0aname\\xff' "$("$A" files "$B")"

# ---- layers: the three forms give the same answer
for form in "oci:$T_TMP/ocidir" "oci-archive:$T_TMP/oci.tar" "docker-archive:$T_TMP/docker.tar"; do
	f=${form%%:*}
	"$A" layers "$B" --image "$form" --json >"$T_TMP/layers.$f.json" 2>"$T_TMP/layers.$f.err"
	t_eq "layers via $f: exit 0" 0 "$?"
	jq -c '.paths' "$T_TMP/layers.$f.json" | jq -c 'map(del(.digest))' >"$T_TMP/paths.$f"
done
t_eq "oci-archive and oci-dir agree on every path" "$(cat "$T_TMP/paths.oci")" "$(cat "$T_TMP/paths.oci-archive")"
t_eq "docker-archive and oci-dir agree on every path" "$(cat "$T_TMP/paths.oci")" "$(cat "$T_TMP/paths.docker-archive")"
L=$T_TMP/layers.oci.json
st() { jq -r --arg p "$1" '.paths[] | select(.path==$p) | "\(.status) \(.layer)"' "$L"; }
t_eq "/data/written.txt added" "added null" "$(st /data/written.txt)"
t_eq "/data/hardlink.txt added" "added null" "$(st /data/hardlink.txt)"
t_eq "/data/holder-upper added" "added null" "$(st /data/holder-upper)"
t_eq "/data/evil-link added" "added null" "$(st /data/evil-link)"
t_eq "/data/fifo added" "added null" "$(st /data/fifo)"
t_eq "/etc/config.txt modified (layer 2)" "modified 2" "$(st /etc/config.txt)"
t_eq "/usr/bin/workload modified (layer 1)" "modified 1" "$(st /usr/bin/workload)"
t_eq "/etc/group metadata (touch, layer 2)" "metadata 2" "$(st /etc/group)"
t_eq "/hello.sh deleted (layer 3)" "deleted 3" "$(st /hello.sh)"
t_eq "/etc/app replaced (opaque, layer 3)" "replaced 3" "$(st /etc/app)"
t_eq "/etc/app/app.conf deleted under the opaque dir" "deleted 3" "$(st /etc/app/app.conf)"
t_eq "/etc/app/other.conf deleted under the opaque dir" "deleted 3" "$(st /etc/app/other.conf)"
t_eq "/etc/app/new.conf added" "added null" "$(st /etc/app/new.conf)"
t_eq "/tmp/runtime-bin added" "added null" "$(st /tmp/runtime-bin)"
t_eq "untouched /etc/passwd from layer 2" "image 2" "$(st /etc/passwd)"
t_eq "untouched /usr/bin/holder from layer 1" "image 1" "$(st /usr/bin/holder)"
t_eq "untouched /etc/shadow from layer 1" "image 1" "$(st /etc/shadow)"
t_eq "/bin/ls removed by layer 3" "layer-deleted 1" "$(st /bin/ls)"
t_match "layer 3 created_by from the history" "layer 3: add /etc/app" "$(jq -r '.image.layers[2].created_by' "$L")"
t_empty "no layer count warning with the right image" "$(jq -r '.warnings[]' "$L")"
t_match "text table" 'modified +2 +/etc/config.txt' "$("$A" layers "$B" --image "oci:$T_TMP/ocidir" --changed)"
LP=$("$A" layers "$B" --image "oci:$T_TMP/ocidir" --changed --path '/etc/*' | sed -n '/^STATUS/,$p' | tail -n +2)
t_match "layers --path: the paths it matches" 'modified +2 +/etc/config.txt' "$LP"
t_empty "layers --path: only those" "$(awk '$3 !~ /^\/etc\//' <<<"$LP")"
LI=$("$A" layers "$B" --image "oci:$T_TMP/ocidir" --pid "$T_TARGET_PID" | sed -n '/^STATUS/,$p' | tail -n +2)
t_match "layers --pid: the process's exe (busybox, its mode changed at runtime)" '^metadata +1 +/bin/busybox$' "$(grep busybox <<<"$LI")"
t_match "layers --pid: the file it appends to" '^added +- +/data/log.txt$' "$(grep log.txt <<<"$LI")"
t_match "layers --pid: the script the shell reads (modified at runtime)" '^modified +1 +/usr/bin/workload$' "$(grep workload <<<"$LI")"
t_empty "layers --pid: no path the process does not use" \
	"$(awk '$3 != "/bin/busybox" && $3 != "/data/log.txt" && $3 != "/usr/bin/workload"' <<<"$LI")"
t_match "layers --pid: a pid the bundle does not have is refused" 'no such process' \
	"$("$A" layers "$B" --image "oci:$T_TMP/ocidir" --pid 999999999 2>&1)"

# the wrong image: the real 3-layer OCI archive from another machine has a different history
DATA=$ROOT/tests/data/podman-checkpoint
if [[ -f $DATA/image-oci-archive.tar ]]; then
	o=$("$A" layers "$B" --image "oci-archive:$DATA/image-oci-archive.tar" --json)
	t_eq "foreign oci-archive: 3 layers read" 3 "$(jq '.image.layers | length' <<<"$o")"
	t_eq "foreign oci-archive: /bin/ls removed by its layer 3 too" "layer-deleted" \
		"$(jq -r '.paths[] | select(.path=="/bin/ls") | .status' <<<"$o")"
	t_eq "foreign oci-archive: our holder binary is not in it" "added" \
		"$(jq -r '.paths[] | select(.path=="/data/holder-upper") | .status' <<<"$o")"
	# checkpoint archives are read as evidence: tests/integration/53-analyze-checkpoint.sh
	"$A" verify "$DATA/checkpoint.tar" --pub "$K.pub" >"$T_TMP/ck.out" 2>&1; rc=$?
	t_eq "a Podman checkpoint archive is not a signed bundle (exit 5)" 5 "$rc"
	t_match "checkpoint: no signature said" "NOT SIGNED: .*no signature" "$(cat "$T_TMP/ck.out")"
else
	t_bail "test data" "no $DATA (committed under tests/data)"
fi

# ---- findings
fj=$("$A" findings "$B" --image "oci-archive:$T_TMP/oci.tar" --json)
kinds=$(jq -r '.findings[] | "\(.kind) \(.path)"' <<<"$fj")
t_match "flagged: the binary copied into /tmp and run" "exe-added-at-runtime /tmp/runtime-bin" "$kinds"
t_match "flagged: the process running a deleted binary" "exe-deleted /tmp/holder-deleted" "$kinds"
t_match "flagged: the upperdir binary" "exe-added-at-runtime /data/holder-upper" "$kinds"
t_match "flagged: setuid file added" "setuid-added /tmp/suid-shell" "$kinds"
t_match "flagged: image executable modified" "image-binary-modified /usr/bin/workload" "$kinds"
t_match "flagged: deleted-but-open file" "deleted-open-file /tmp/deleted.txt" "$kinds"
# fd 3 is inherited by every child of init: one finding for the file, naming every holder
holders=$(jq -r '[.fds[] | select(.target=="/tmp/deleted.txt (deleted)")] | length' <<<"$("$A" fds "$B" --json)")
t_eq "the inherited deleted file is one finding, not one per process" 1 \
	"$(grep -c '^deleted-open-file /tmp/deleted.txt' <<<"$kinds")"
t_match "and it names the other $((holders - 1)) holders" "also held by $((holders - 1)) more" \
	"$(jq -r '.findings[] | select(.kind=="deleted-open-file") | .message' <<<"$fj")"
t_eq "findings come high severity first" "high" "$(jq -r '.findings[0].severity' <<<"$fj")"
t_eq "holder's exe annotated image layer 1" "image 1" \
	"$(jq -r '.processes[] | select(.comm=="holder") | "\(.status) \(.layer)"' <<<"$fj")"

# ---- timelines
"$A" timeline "$B" --image "oci:$T_TMP/ocidir" --format bodyfile >"$T_TMP/body"
t_ok "bodyfile has 11 fields on every line" awk -F'|' 'NF != 11 { exit 1 }' "$T_TMP/body"
mt=$(mactime -b "$T_TMP/body" -z UTC 2000-01-01 2>&1)
t_match "mactime: old atime of 2001 on its own line" 'Mon Jan 01 2001 00:00:00 +19 \.a\.\. r/rrw-r--r-- .*/data/old-atime.txt' "$mt"
t_match "mactime: the whiteout" '/hello.sh \(deleted: whiteout\)' "$mt"
t_match "mactime: process start" '\[process\] process [0-9]+ \(holder-deleted\) started' "$mt"
t_match "mactime: capture" '\[capture\] afterimage capture b1 started' "$mt"
t_match "mactime: the hostile name stays on one line" '/data/bad\\x0aname\\xff \(added\)' "$mt"
"$A" timeline "$B" --image "oci:$T_TMP/ocidir" --format jsonl >"$T_TMP/tl.jsonl"
t_ok "jsonl: every line is JSON with Timesketch's columns" \
	jq -e 'has("message") and has("datetime") and has("timestamp_desc")' "$T_TMP/tl.jsonl"
t_match "jsonl: image layer history" '"timestamp_desc":"Image Layer Created"' "$(cat "$T_TMP/tl.jsonl")"
t_eq "jsonl: a copied-up file's mtime (chmod keeps it) is older than the container, and said so" \
	"true [before the container started]" \
	"$(jq -r 'select(.path=="/bin/busybox" and .timestamp_desc=="Content Modification Time") | "\(.before_container_start) \(.message | capture("(?<t> \\[before the container started\\])$").t | ltrimstr(" "))"' "$T_TMP/tl.jsonl")"
t_eq "jsonl: a file the container wrote is not" "null" \
	"$(jq -r 'select(.path=="/data/written.txt" and .timestamp_desc=="Content Modification Time") | .before_container_start' "$T_TMP/tl.jsonl")"
TICK=$((1000000000 / $(getconf CLK_TCK)))
t_eq "processes.json: the start times' precision, one clock tick" "$TICK" \
	"$(tar -xOf "$B" processes.json | jq -r .start_time_tick_ns)"
t_eq "jsonl: every process start says it is exact to the clock tick only" "$TICK" \
	"$(jq -r 'select(.timestamp_desc=="Process Start Time") | .time_precision_ns' "$T_TMP/tl.jsonl" | sort -u | paste -sd,)"
t_match "jsonl: and its message says so" "started: exe .* \\(start time to the clock tick, $((TICK / 1000000)) ms\\)\"" \
	"$(grep -m1 '"Process Start Time"' "$T_TMP/tl.jsonl")"
"$A" timeline "$B" --format csv >"$T_TMP/tl.csv"
t_eq "csv header" "message,datetime,timestamp_desc,timestamp,timestamp_ns,source,path,pid,status,layer,inode,mode,uid,gid,size,sha256,container" \
	"$(head -1 "$T_TMP/tl.csv")"
t_ok "csv parses with python's csv module" python3 -c '
import csv,sys
rows=list(csv.DictReader(open(sys.argv[1])))
assert rows and all(r["datetime"].endswith("Z") for r in rows)' "$T_TMP/tl.csv"

# ---- diff
t_match "diff of a bundle with itself: nothing" '^0 differences$' "$("$A" diff "$B" "$B")"
d=$("$A" diff "$B" "$B2")
t_match "diff of two captures: a file added between them" '\+ file +added +/data/between.txt' "$d"
t_match "diff of two captures: config.txt changed again" '~ file +modified +/etc/config.txt +\(content' "$d"

# ---- extract
# the workload's upperdir holds data/evil-link -> /etc/shadow and data/escape -> ../../..: a symlink
# that could lead out of the tree stops the extraction (docs/analyze.md), and nothing is left
"$A" extract "$B" -o "$T_TMP/x" >"$T_TMP/x.out" 2>&1; rc=$?
t_eq "extract of the real bundle: refused, exit 3" 3 "$rc"
t_match "extract names the symlink leading out" "member fs/upper/data/(evil-link|escape): refused \(a symlink to (/etc/shadow|(\.\./)+etc)" "$(cat "$T_TMP/x.out")"
t_fail "a refused extraction leaves no directory behind" test -e "$T_TMP/x"
# the same bundle without those two symlinks extracts whole
python3 - "$B" "$T_TMP/b-nolinks.tar" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as s, tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as t:
    for m in s.getmembers():
        if m.issym() and (m.linkname.startswith("/") or ".." in m.linkname.split("/")):
            continue
        t.addfile(m, s.extractfile(m) if m.isfile() else None)
PY
t_ok "extract into a new dir" "$A" extract "$T_TMP/b-nolinks.tar" -o "$T_TMP/x"
t_eq "extracted file content" "evidence-upper" "$(cat "$T_TMP/x/fs/upper/data/written.txt")"
t_empty "no staging directory left after a success" "$(find "$T_TMP/x" -maxdepth 1 -name '.partial-*')"
t_fail "the evil symlink is not extracted" test -L "$T_TMP/x/fs/upper/data/evil-link"
t_fail "extract refuses a non-empty dir" "$A" extract "$T_TMP/b-nolinks.tar" -o "$T_TMP/x"
# a hostile tar: traversal via .. and an absolute path
mkdir -p "$T_TMP/evil/sub"; echo pwned >"$T_TMP/evil/sub/f"
(cd "$T_TMP/evil" && bsdtar -cf "$T_TMP/evil.tar" -s ',^sub/f,../../escaped,' sub/f)
t_fail "extract refuses '..'" "$A" extract "$T_TMP/evil.tar" -o "$T_TMP/x2"
t_fail "nothing escaped" test -e "$T_TMP/../escaped"
(cd "$T_TMP/evil" && bsdtar -cPf "$T_TMP/evil2.tar" -s ",^sub/f,$T_TMP/abs-escaped," sub/f)
t_fail "extract refuses an absolute path" "$A" extract "$T_TMP/evil2.tar" -o "$T_TMP/x3"
t_fail "nothing written at the absolute path" test -e "$T_TMP/abs-escaped"

# ---- report, rendered by a real headless Chromium
t_ok "report" "$A" report "$B" --image "oci:$T_TMP/ocidir" -o "$T_TMP/report.html" --quiet
t_empty "report: no network reference" "$(grep -Eo '(src|href)="(https?:)?//[^"]*' "$T_TMP/report.html")"
t_empty "report: no script" "$(grep -io '<script' "$T_TMP/report.html")"
t_match "report without --pub: it says it did not check the bundle" 'id="verification" class="medium" data-state="not-checked"' \
	"$(cat "$T_TMP/report.html")"
KID=$(grep -o '"key_id":"[0-9A-F]*"' <<<"$KG" | cut -d'"' -f4)
t_ok "report --pub: a good bundle" "$A" report "$B" --pub "$K.pub" -o "$T_TMP/rv.html" --quiet
t_match "report --pub: the summary opens with the verification, the key file and minisign's key ID" \
	"<section id=\"summary\"><h2>Summary</h2><p id=\"verification\" class=\"info\" data-state=\"verified\">Integrity: <b>verified</b> against <code>[^<]*key.pub</code>, key ID <code>$KID</code>" \
	"$(tr -d '\n' <"$T_TMP/rv.html")"
t_eq "report --pub: the key ID is the one stock minisign's public key carries" \
	"$KID" "$(tail -1 "$K.pub" | base64 -d 2>/dev/null | od -An -tx1 -j2 -N8 | tr -d ' \n' | fold -w2 | tac | tr -d '\n' | tr a-f A-F)"
"$A" report "$B" --pub "$T_TMP/other.pub" -o "$T_TMP/rw.html" --quiet 2>"$T_TMP/rw.err"
t_eq "report --pub with another key: exit 1, the report written all the same" "1 yes" \
	"$? $([[ -s $T_TMP/rw.html ]] && echo yes)"
t_match "report --pub with another key: VERIFICATION FAILED at its top" 'data-state="failed">Integrity: <b>VERIFICATION FAILED</b>' \
	"$(cat "$T_TMP/rw.html")"
t_match "report --pub with another key: and on stderr" '^VERIFICATION FAILED: .*b1.tar' "$(cat "$T_TMP/rw.err")"
cp "$B" "$T_TMP/tampered.tar"
cp "$B.minisig" "$T_TMP/tampered.tar.minisig"
TM=$(python3 - "$T_TMP/tampered.tar" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    m = next(x for x in t.getmembers() if x.name.startswith("fs/upper/") and x.isfile() and x.size > 0)
print(m.name)
with open(sys.argv[1], "r+b") as f:  # one bit of a stored file's content: the JSON still parses
    f.seek(m.offset_data); b = f.read(1); f.seek(m.offset_data); f.write(bytes([b[0] ^ 0x01]))
PY
)
"$A" report "$T_TMP/tampered.tar" --pub "$K.pub" -o "$T_TMP/rt.html" --quiet 2>/dev/null
t_eq "report --pub of a tampered bundle: exit 1" 1 "$?"
t_match "report --pub of a tampered bundle: the failing member named at the top" \
	'data-state="failed">.*<br><code>FAIL [^<]*'"$TM" "$(tr -d '\n' <"$T_TMP/rt.html")"
t_match "report --pub of a checkpoint archive: unsigned" 'data-state="unsigned"' \
	"$("$A" report "$ROOT/tests/data/podman-checkpoint/checkpoint.tar" --pub "$K.pub" -o "$T_TMP/rc.html" --quiet 2>&1; cat "$T_TMP/rc.html")"
if command -v chromium >/dev/null; then
	CHR=(chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
		--disable-sync --no-first-run --user-data-dir="$T_TMP/chromium")
	timeout 120 "${CHR[@]}" --dump-dom "file://$T_TMP/report.html" >"$T_TMP/dom.html" 2>/dev/null
	t_match "chromium DOM: findings table flags the deleted exe" 'data-kind="exe-deleted"' "$(cat "$T_TMP/dom.html")"
	t_match "chromium DOM: process tree" 'id="process-tree"' "$(cat "$T_TMP/dom.html")"
	t_match "chromium DOM: sockets" '@afterimage-abstract' "$(cat "$T_TMP/dom.html")"
	t_match "chromium DOM: attribution row" 'class="st-modified".*/etc/config.txt' "$(tr -d '\n' <"$T_TMP/dom.html")"
	t_match "chromium DOM: timeline chart circles" '<circle class="ev"' "$(cat "$T_TMP/dom.html")"
	t_match "chromium DOM: hostile name escaped" '/data/bad\\x0aname\\xff' "$(cat "$T_TMP/dom.html")"
	timeout 120 "${CHR[@]}" --window-size=1280,2000 --screenshot="$T_TMP/report.png" "file://$T_TMP/report.html" >/dev/null 2>&1
	t_ok "chromium screenshot written" test -s "$T_TMP/report.png"
	t_eq "screenshot is a PNG" "89504e47" "$(head -c 4 "$T_TMP/report.png" | od -An -tx1 | tr -d ' \n')"
else
	t_skip "report in chromium" "chromium not installed (scripts/install-deps)"
fi

# keep the bundle and images for the report test (51) when asked
if [[ -n ${AI_ANALYZE_KEEP:-} ]]; then
	mkdir -p "$AI_ANALYZE_KEEP" && cp -r "$B" "$B.minisig" "$T_TMP/ocidir" "$AI_ANALYZE_KEEP/"
fi
