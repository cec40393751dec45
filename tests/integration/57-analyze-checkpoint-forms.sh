#!/usr/bin/env bash
# Every checkpoint archive form, read fully. On the real Podman archive of tests/data (zstd, as
# podman writes it by default): the processes, open files, sockets with their owners, the
# deleted-but-open file's recovered content and the open files' layers against the real image,
# all from the CRIU images. Then the other forms, built here from that archive because they
# cannot be made on this machine: Podman's gzip and uncompressed outer tars; a CRI-O one
# (uncompressed, bind.mounts, CRI-O's io.kubernetes.* annotations, no network.status); a
# containerd 2.x one, CONVERTED: rootfs-diff.tar rewritten into a gzip OCI layer with `.wh.`
# whiteouts (and `.wh..wh..opq`) for the deleted.files entries, deleted.files dropped, status,
# status.dump and container.log added. Every view must give the same answers on every form.
. "$(dirname "$0")/../lib.sh"
t_require_analyze
A=$ANALYZE
DATA=$ROOT/tests/data/podman-checkpoint
[[ -f $DATA/checkpoint.tar ]] || t_bail "checkpoint archive" "no $DATA/checkpoint.tar"
command -v python3 >/dev/null || t_bail "python3" "needed to rewrite the JSON and tar members"
CK=$DATA/checkpoint.tar
IMG=oci-archive:$DATA/image-oci-archive.tar

# ---- the real archive: what the workload (tests/data/podman-checkpoint/workload.sh) left
P=$("$A" ps "$CK" --json)
t_eq "ps: 10 processes" 10 "$(jq '.processes | length' <<<"$P")"
t_eq "ps: the tree (pid ppid comm)" "1 0 sh|11 1 httpd|12 1 nc|21 12 cat|13 1 sleep|15 13 sleep|16 1 sh|18 16 sleep|19 16 nc|38 1 sleep" \
	"$(jq -r '[.processes[] | "\(.pid) \(.ppid) \(.comm)"] | join("|")' <<<"$P")"
N=$("$A" net "$CK" --json)
t_eq "net: source" checkpoint "$(jq -r .source <<<"$N")"
sk() { jq -r "$1" <<<"$N"; }
t_eq "net: httpd listens on :8080 (tcp6, dual stack)" "inet6 tcp LISTEN :: 11/6" \
	"$(sk '.sockets[] | select(.local_port==8080) | "\(.family) \(.proto) \(.state) \(.local_addr) \(.owners | map("\(.pid)/\(.fd)") | join(","))"')"
t_eq "net: nc listens on :9090" "LISTEN 12/6 nc" \
	"$(sk '.sockets[] | select(.local_port==9090 and .state=="LISTEN") | "\(.state) \(.owners[0].pid)/\(.owners[0].fd) \(.owners[0].comm)"')"
t_eq "net: the client side of the ESTABLISHED connection, owned by nc" "inet 127.0.0.1:9090 19/6 nc" \
	"$(sk '.sockets[] | select(.state=="ESTABLISHED" and .remote_port==9090) | "\(.family) \(.remote_addr):\(.remote_port) \(.owners[0].pid)/\(.owners[0].fd) \(.owners[0].comm)"')"
cport=$(sk '.sockets[] | select(.state=="ESTABLISHED" and .remote_port==9090) | .local_port')
t_eq "net: the accepted side, held by nc -e's cat on fds 0 and 1" "::ffff:127.0.0.1 $cport 21/0,21/1" \
	"$(sk '.sockets[] | select(.state=="ESTABLISHED" and .local_port==9090) | "\(.remote_addr) \(.remote_port) \(.owners | map("\(.pid)/\(.fd)") | join(","))"')"
t_match "net: text view names the owners" '21/cat:fd0,21/cat:fd1' "$("$A" net "$CK")"
F=$("$A" fds "$CK" --json)
fd() { jq -r --argjson p "$1" --argjson f "$2" ".fds[] | select(.pid==\$p and .fd==\$f) | $3" <<<"$F"; }
t_eq "fds: pid 1 fd 3 is the deleted-but-open file" "deleted /tmp/deleted.txt (deleted) true" "$(fd 1 3 '"\(.type) \(.target) \(.deleted)"')"
want=$(printf 'to-be-deleted\n' | sha256sum | cut -d' ' -f1)
t_eq "fds: its content recovered from the ghost file (what the workload wrote)" "checkpoint/ghost-file-1.img 14 $want" \
	"$(fd 1 3 '"\(.recovered) \(.recovered_size) \(.recovered_sha256)"')"
t_eq "fds: every process inherited it" 10 "$(jq '[.fds[] | select(.fd==3 and .deleted)] | length' <<<"$F")"
t_eq "fds: fd 4 /data/log.txt open for append, at its end" "file /data/log.txt 0102001 25" "$(fd 1 4 '"\(.type) \(.target) \(.flags) \(.pos)"')"
t_eq "fds: fd 5 the lower-layer /bin/busybox" "file /bin/busybox 1982256" "$(fd 1 5 '"\(.type) \(.target) \(.size)"')"
t_eq "fds: stdin /dev/null is a device" "device" "$(fd 1 0 .type)"
t_eq "fds: pipes" "pipe" "$(fd 1 1 .type)"
t_eq "fds: sockets by inode" "socket:[$(sk '.sockets[] | select(.local_port==8080) | .inode')]" "$(fd 11 6 .target)"
t_match "findings: one deleted-open finding naming all holders" "deleted-open-file .*/tmp/deleted.txt.*ghost-file-1.img.*also held by 9 more" \
	"$("$A" findings "$CK")"
FJ=$("$A" findings "$CK" --image "$IMG" --json)
of() { jq -r --arg p "$1" '[.processes[] | select(.pid==1) | .files[] | select(.path==$p) | "\(.status) \(.layer)"] | first' <<<"$FJ"; }
t_eq "findings: /bin/busybox open from layer 1" "image 1" "$(of /bin/busybox)"
t_eq "findings: /data/log.txt open, added at runtime" "added null" "$(of /data/log.txt)"
t_eq "mounts: from spec.dump, the bind-mounted workload" "bind /tmp/feas/e2e/workload.sh" \
	"$("$A" mounts "$CK" --json | jq -r '.mounts[] | select(.mount_point=="/w.sh") | "\(.fstype) \(.source)"')"
"$A" report "$CK" -o "$T_TMP/r0.html" --quiet
t_match "report: engine and network.status" "checkpoint archive \(Podman\).*eth0 10.88.0.26/16 gw 10.88.0.1" \
	"$(cat "$T_TMP/r0.html")"

# ---- the other forms, built from the real archive
X=$T_TMP/x
mkdir -p "$X"
zstd -dcq "$CK" >"$T_TMP/plain.tar"
tar -C "$X" -xf "$T_TMP/plain.tar"
gzip -c "$T_TMP/plain.tar" >"$T_TMP/podman-gzip.tar"
zstd -qc "$T_TMP/plain.tar" >"$T_TMP/podman-zstd.tar"
cp "$T_TMP/plain.tar" "$T_TMP/podman-plain.tar"

# CRI-O: annotations as CRI-O sets them on the container's spec (no libpod manager), bind.mounts
# as CRI-O writes it for the spec's bind mounts, no network.status or devshm-checkpoint.tar.
C=$T_TMP/crio
cp -a "$X" "$C"
rm -f "$C/network.status" "$C/devshm-checkpoint.tar"
python3 - "$C" <<'EOF'
import json, sys
d = sys.argv[1]
spec = json.load(open(d + "/spec.dump"))
ann = {k: v for k, v in spec.get("annotations", {}).items() if not k.startswith("io.podman") and k != "io.container.manager"}
ann.update({"io.kubernetes.pod.name": "ai-B1-pod", "io.kubernetes.pod.namespace": "ai-B1-ns",
            "io.kubernetes.container.name": "ai-B1-ctr", "io.kubernetes.cri-o.ContainerType": "container",
            "io.kubernetes.cri-o.ImageName": "localhost/ml:3"})
spec["annotations"] = ann
json.dump(spec, open(d + "/spec.dump", "w"))
cfg = json.load(open(d + "/config.dump"))
cfg.pop("RawImageName", None)
json.dump(cfg, open(d + "/config.dump", "w"))
binds = [{"source": m["source"], "destination": m["destination"], "file_type": "file", "permissions": 420}
         for m in spec["mounts"] if m["type"] == "bind"]
json.dump(binds, open(d + "/bind.mounts", "w"))
EOF
# the rewritten members keep the times of the originals (the checkpoint time is read from them)
for m in spec.dump config.dump bind.mounts; do touch -r "$X/config.dump" "$C/$m"; done
(cd "$C" && tar -cf "$T_TMP/crio.tar" bind.mounts checkpoint config.dump spec.dump stats-dump rootfs-diff.tar deleted.files)

# containerd 2.x, CONVERTED from the Podman archive (no containerd here): rootfs-diff.tar as a
# gzip OCI layer whose whiteouts stand for deleted.files' paths, containerd's member names.
D=$T_TMP/containerd
cp -a "$X" "$D"
rm -f "$D/deleted.files" "$D/network.status" "$D/devshm-checkpoint.tar"
python3 - "$X" "$D" <<'EOF'
import gzip, io, json, sys, tarfile
src, dst = sys.argv[1], sys.argv[2]
deleted = json.load(open(src + "/deleted.files")) or []
inner = tarfile.open(src + "/rootfs-diff.tar")
members = inner.getmembers()
names = ["/" + m.name.lstrip("./").rstrip("/") for m in members]
out = tarfile.open(fileobj=gzip.open(dst + "/rootfs-diff.tar", "wb"), mode="w|", format=tarfile.PAX_FORMAT)
for m in members:
    out.addfile(m, inner.extractfile(m) if m.isfile() else None)
for p in deleted:
    p = p.rstrip("/")
    if any(n == p or n.startswith(p + "/") for n in names):   # deleted, then re-created: opaque
        wh = p.lstrip("/") + "/.wh..wh..opq"
    else:
        head, _, base = p.rpartition("/")
        wh = (head.lstrip("/") + "/" if head else "") + ".wh." + base
    t = tarfile.TarInfo(wh)
    t.mtime = members[0].mtime
    out.addfile(t, io.BytesIO(b""))
out.close()
spec = json.load(open(dst + "/spec.dump"))
ann = {k: v for k, v in spec.get("annotations", {}).items() if not k.startswith("io.podman") and k != "io.container.manager"}
ann.update({"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.container-name": "ai-B1-ctr",
            "io.kubernetes.cri.sandbox-name": "ai-B1-pod", "io.kubernetes.cri.sandbox-namespace": "ai-B1-ns",
            "io.kubernetes.cri.image-name": "localhost/ml:3"})
spec["annotations"] = ann
json.dump(spec, open(dst + "/spec.dump", "w"))
json.dump({"id": "x", "state": "CONTAINER_RUNNING"}, open(dst + "/status", "w"))
json.dump({"id": "x", "state": "CONTAINER_RUNNING"}, open(dst + "/status.dump", "w"))
open(dst + "/container.log", "w").write("2026-11-24T14:23:04Z stdout F started\n")
EOF
t_eq "containerd form: rootfs-diff.tar is gzip" "gzip" "$(file -b "$D/rootfs-diff.tar" | cut -d' ' -f1)"
t_match "containerd form: whiteouts in the layer" '\.wh\.hello\.sh.*etc/app/\.wh\.\.wh\.\.opq|etc/app/\.wh\.\.wh\.\.opq.*\.wh\.hello\.sh' \
	"$(tar -tzf "$D/rootfs-diff.tar" | tr '\n' ' ')"
for m in spec.dump status status.dump container.log rootfs-diff.tar; do touch -r "$X/config.dump" "$D/$m"; done
(cd "$D" && tar -cf "$T_TMP/containerd.tar" config.dump spec.dump status status.dump container.log checkpoint rootfs-diff.tar stats-dump)

# ---- the same answers from every form
FORMS="podman-zstd podman-gzip podman-plain crio containerd"
for v in ps fds net mounts; do
	want=$("$A" "$v" "$CK" --json | jq -S .)
	for f in $FORMS; do
		t_eq "$f: $v --json as on the real archive" "$want" "$("$A" "$v" "$T_TMP/$f.tar" --json | jq -S .)"
	done
done
# files and layers: the same entries; a whiteout's member names where the format said it
# (deleted.files, or containerd's rootfs-diff.tar layer)
nomember='del(.files[]?.member)'
want=$("$A" files "$CK" --json | jq -S "$nomember")
lwant=$("$A" layers "$CK" --image "$IMG" --json | jq -S '.paths')
fwant=$("$A" findings "$CK" --image "$IMG" --json | jq -S .)
for f in $FORMS; do
	t_eq "$f: files --json as on the real archive" "$want" "$("$A" files "$T_TMP/$f.tar" --json | jq -S "$nomember")"
	t_eq "$f: layers --json paths as on the real archive" "$lwant" \
		"$("$A" layers "$T_TMP/$f.tar" --image "$IMG" --json | jq -S '.paths')"
	t_eq "$f: findings --json as on the real archive" "$fwant" "$("$A" findings "$T_TMP/$f.tar" --image "$IMG" --json | jq -S .)"
	t_ok "$f: timeline bodyfile" sh -c '"$0" timeline "$1" --format bodyfile >/dev/null' "$A" "$T_TMP/$f.tar"
	t_ok "$f: report" "$A" report "$T_TMP/$f.tar" --image "$IMG" -o "$T_TMP/$f.html" --quiet
	"$A" verify "$T_TMP/$f.tar" >/dev/null 2>&1
	t_eq "$f: verify says not signed (exit 5)" 5 "$?"
done
t_eq "containerd: whiteouts from the layer name rootfs-diff.tar" "whiteout rootfs-diff.tar" \
	"$("$A" files "$T_TMP/containerd.tar" --json | jq -r '.files[] | select(.path=="/hello.sh") | "\(.type) \(.member)"')"
t_eq "containerd: the opaque marker makes /etc/app replaced" "replaced 3" \
	"$("$A" layers "$T_TMP/containerd.tar" --image "$IMG" --json | jq -r '.paths[] | select(.path=="/etc/app") | "\(.status) \(.layer)"')"
for f in podman-zstd podman-gzip podman-plain crio; do
	t_eq "$f: timeline as on the real archive" "$("$A" timeline "$CK" --format jsonl)" "$("$A" timeline "$T_TMP/$f.tar" --format jsonl)"
done
t_eq "containerd: timeline as on the real archive but for the member naming the deletions" \
	"$("$A" timeline "$CK" --format jsonl | sed 's/deleted: deleted.files/deleted: LAYER/')" \
	"$("$A" timeline "$T_TMP/containerd.tar" --format jsonl | sed 's/deleted: rootfs-diff.tar/deleted: LAYER/')"
# the Kubernetes identity of the CRI-O and containerd forms
for f in crio containerd; do
	"$A" report "$T_TMP/$f.tar" -o "$T_TMP/$f-id.html" --quiet
	eng=$([[ $f == crio ]] && echo CRI-O || echo containerd)
	t_match "$f: report names the engine" "checkpoint archive \($eng\)" "$(cat "$T_TMP/$f-id.html")"
	t_match "$f: report names pod, namespace, container" "pod</td><td[^>]*>ai-B1-pod.*namespace</td><td[^>]*>ai-B1-ns.*container name</td><td[^>]*>ai-B1-ctr" \
		"$(cat "$T_TMP/$f-id.html")"
	t_match "$f: report names the image from the annotation" "localhost/ml:3" "$(cat "$T_TMP/$f-id.html")"
done
# a checkpoint against itself as a diff: nothing changed (the model is filled on both sides)
t_eq "diff podman-zstd crio: no changes" 0 "$("$A" diff "$CK" "$T_TMP/crio.tar" --json | jq .count)"
t_eq "diff podman containerd: no changes" 0 "$("$A" diff "$CK" "$T_TMP/containerd.tar" --json | jq .count)"

# ---- /dev/shm content (devshm-checkpoint.tar) read as files of the container
S=$T_TMP/shm
cp -a "$X" "$S"
mkdir -p "$S/shm"
printf 'shm-secret\n' >"$S/shm/key.bin"
(cd "$S/shm" && tar -cf ../devshm-checkpoint.tar .)
rm -rf "$S/shm"
(cd "$S" && tar -cf "$T_TMP/shm.tar" *)
t_eq "devshm: /dev/shm/key.bin from devshm-checkpoint.tar" "file $(printf 'shm-secret\n' | sha256sum | cut -d' ' -f1) devshm-checkpoint.tar" \
	"$("$A" files "$T_TMP/shm.tar" --json | jq -r '.files[] | select(.path=="/dev/shm/key.bin") | "\(.type) \(.sha256) \(.member)"')"

# ---- hostile CRIU images inside an otherwise good archive: a clear error naming the image
H=$T_TMP/hostile
for img in files.img fdinfo-2.img ghost-file-1.img ids-1.img; do
	rm -rf "$H" && cp -a "$X" "$H"
	head -c 13 "$X/checkpoint/$img" >"$H/checkpoint/$img"
	(cd "$H" && tar -cf "$T_TMP/h.tar" *)
	out=$(timeout 60 "$A" fds "$T_TMP/h.tar" 2>&1); rc=$?
	t_eq "truncated $img: exit 3" 3 "$rc"
	t_match "truncated $img: named" "checkpoint/$img" "$out"
done

# ---- afterimage-capture seal: the raw archive (and a log beside it) into a signed bundle; the
# analyzer reads the archive through it, verify checks the bundle, stock minisign agrees
t_require_capture
SD=$T_TMP/seal
mkdir -p "$SD"
"$CAPTURE" keygen -o "$SD/k" >/dev/null
printf 'kubelet: checkpoint written\n' >"$SD/kubelet.log"
out=$("$CAPTURE" seal "$CK" "$SD/kubelet.log" --key "$SD/k.key" -o "$SD" --name ai-B1-sealed); rc=$?
t_eq "seal: exit 0" 0 "$rc"
t_eq "seal: one JSON line naming the bundle" "$SD/ai-B1-sealed.tar 2 true" "$(jq -r '"\(.bundle) \(.files) \(.complete)"' <<<"$out")"
B=$SD/ai-B1-sealed.tar
t_ok "seal: stock minisign verifies the bundle" minisign -Vm "$B" -p "$SD/k.pub" -q
"$A" verify "$B" --pub "$SD/k.pub" >"$T_TMP/sv.out" 2>&1
t_eq "seal: afterimage-analyze verify: signed and intact (exit 0)" 0 "$?"
t_match "seal: verify says verified" "verified: .*ai-B1-sealed.tar" "$(cat "$T_TMP/sv.out")"
t_eq "seal: the stored archive is the original, byte for byte" "$(sha256sum <"$CK")" "$(tar -xOf "$B" sealed/checkpoint.tar | sha256sum)"
SJ=$(tar -xOf "$B" sealed.json)
t_eq "seal: sealed.json: path, size, sha256 of the archive" "$CK $(stat -c %s "$CK") $(sha256sum "$CK" | cut -d' ' -f1)" \
	"$(jq -r '.files[] | select(.member=="sealed/checkpoint.tar") | "\(.path) \(.size) \(.sha256)"' <<<"$SJ")"
t_eq "seal: sealed.json: its mtime" "$(stat -c %Y "$CK")" \
	"$(jq -r '.files[] | select(.member=="sealed/checkpoint.tar") | .mtime_ns / 1000000000 | floor' <<<"$SJ")"
t_eq "seal: the manifest's trigger and host" "seal $(uname -n)" "$(tar -xOf "$B" manifest.json | jq -r '"\(.trigger) \(.host)"')"
for v in ps fds net mounts files; do
	t_eq "sealed: $v --json as on the raw archive" "$("$A" "$v" "$CK" --json)" "$("$A" "$v" "$B" --json)"
done
t_eq "sealed: layers --json paths as on the raw archive" "$lwant" "$("$A" layers "$B" --image "$IMG" --json | jq -S '.paths')"
t_eq "sealed: findings as on the raw archive" "$fwant" "$("$A" findings "$B" --image "$IMG" --json | jq -S .)"
"$A" report "$B" -o "$T_TMP/sealed.html" --quiet
t_match "sealed: the report says where the archive was sealed" "sealed in a signed bundle as sealed/checkpoint.tar" "$(cat "$T_TMP/sealed.html")"
cp "$B" "$T_TMP/tampered.tar"
# sealed/checkpoint.tar is the first member: byte 20000 is inside its (41871 bytes of) data
t_eq "sealed: the archive is the bundle's first member" "sealed/checkpoint.tar" "$(tar -tf "$B" | head -1)"
b0=$(dd if="$T_TMP/tampered.tar" bs=1 skip=20000 count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\$(printf %03o $(((b0 + 1) % 256)))" | dd of="$T_TMP/tampered.tar" bs=1 seek=20000 conv=notrunc status=none
t_eq "sealed: the copy differs" 1 "$(cmp -l "$B" "$T_TMP/tampered.tar" | wc -l)"
cp "$B.minisig" "$T_TMP/tampered.tar.minisig"
"$A" verify "$T_TMP/tampered.tar" --pub "$SD/k.pub" >/dev/null 2>&1
t_eq "sealed: a byte changed in the sealed archive fails verify (exit 1)" 1 "$?"
"$CAPTURE" seal "$SD" --key "$SD/k.key" -o "$SD" >/dev/null 2>&1
t_eq "seal: a directory is refused (exit 1)" 1 "$?"
"$CAPTURE" seal "$CK" -o "$SD" >/dev/null 2>&1
t_eq "seal: no key is a usage error (exit 2)" 2 "$?"

# ---- extract: the archive's members, and the deleted-open file's content recovered beside them
"$A" extract "$CK" -o "$T_TMP/ex" --quiet
t_eq "extract: exit 0 on a (zstd) checkpoint archive" 0 "$?"
t_eq "extract: the ghost file's content as fds/recovered/ghost-file-1" "$(printf 'to-be-deleted\n' | sha256sum | cut -d' ' -f1)" "$(sha256sum <"$T_TMP/ex/fds/recovered/ghost-file-1" | cut -d' ' -f1)"
t_eq "extract: the CRIU image itself too" "$(tar -xOf "$T_TMP/plain.tar" checkpoint/ghost-file-1.img | sha256sum)" "$(sha256sum <"$T_TMP/ex/checkpoint/ghost-file-1.img")"
t_eq "extract: every member of the archive" "$(tar -tf "$T_TMP/plain.tar" | sed 's,/$,,' | sort)" \
	"$(cd "$T_TMP/ex" && find . -mindepth 1 | sed 's,^\./,,' | grep -v '^fds' | sort)"
rm -rf "$H" && cp -a "$X" "$H"
head -c 30 "$X/checkpoint/ghost-file-1.img" >"$H/checkpoint/ghost-file-1.img"
(cd "$H" && tar -cf "$T_TMP/h.tar" *)
out=$("$A" extract "$T_TMP/h.tar" -o "$T_TMP/ex2" 2>&1); rc=$?
t_eq "extract: a truncated ghost image: exit 3" 3 "$rc"
t_match "extract: named" "ghost-file-1.img" "$out"
t_empty "extract: nothing left behind" "$(ls -A "$T_TMP/ex2" 2>/dev/null)"

# ---- a unix socket (the workload has none): HAND-MADE, one unix_sk_entry appended to the real
# files.img (abstract name) and one fdinfo entry for it to pid 1's table, field numbers as
# CRIU's sk-unix.proto and fdinfo.proto have them
U=$T_TMP/unix
rm -rf "$U" && cp -a "$X" "$U"
python3 - "$U/checkpoint" <<'PYEOF'
import struct, sys
d = sys.argv[1]
def v(n):
    o = b''
    while True:
        b, n = n & 0x7f, n >> 7
        if n:
            o += bytes([b | 0x80])
        else:
            return o + bytes([b])
fv = lambda f, n: v(f << 3) + v(n)
fl = lambda f, b: v(f << 3 | 2) + v(len(b)) + b
usk = fv(1, 40) + fv(2, 777001) + fv(3, 1) + fv(4, 10) + fv(5, 2) + fv(6, 0) + fv(7, 5) + fv(8, 0) + fl(11, b'\0ai-B1-abstract')
entry = fv(1, 5) + fv(2, 40) + fl(16, usk)
open(d + "/files.img", "ab").write(struct.pack('<I', len(entry)) + entry)
fdi = fv(1, 40) + fv(2, 0) + fv(3, 5) + fv(4, 7)
open(d + "/fdinfo-2.img", "ab").write(struct.pack('<I', len(fdi)) + fdi)
PYEOF
(cd "$U" && tar -cf "$T_TMP/unix.tar" *)
t_eq "unix socket: abstract name, LISTEN, owned by pid 1 fd 7" "unix stream LISTEN @ai-B1-abstract true 777001 1/7" \
	"$("$A" net "$T_TMP/unix.tar" --json | jq -r '.sockets[] | select(.family=="unix") | "\(.family) \(.type) \(.state) \(.path) \(.abstract) \(.inode) \(.owners | map("\(.pid)/\(.fd)") | join(","))"')"
t_eq "unix socket: pid 1 fd 7 is a socket" "socket socket:[777001]" \
	"$("$A" fds "$T_TMP/unix.tar" --json | jq -r '.fds[] | select(.pid==1 and .fd==7) | "\(.type) \(.target)"')"
