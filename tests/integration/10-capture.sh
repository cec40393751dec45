#!/usr/bin/env bash
# The capture core on a real podman/runc container, from the host: every piece of evidence the
# workload leaves is in the bundle, and the stock tools (tar, bsdtar, sha256sum, minisign) accept
# it, while one flipped byte makes them refuse it.
. "$(dirname "$0")/../lib.sh"
t_require_capture

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-cap-$$"
P=$T_TARGET_PID
CID=$(podman inspect -f '{{.Id}}' "$T_TARGET_NAME")
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$T_TARGET_NAME")
OUT=$T_TMP/out
mkdir -p "$OUT"
t_ok "keygen" "$CAPTURE" keygen -o "$T_TMP/key"
t_eq "private key is mode 0600" 600 "$(stat -c %a "$T_TMP/key.key")"
t_ok "openssl reads the PKCS#8 key" openssl pkey -in "$T_TMP/key.key" -noout

t_ok "snapshot exits 0 (complete)" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name b1
line=$(cat "$T_TMP/.t_out")
t_match "prints one JSON line with the bundle, sha256 and complete" \
	'^\{"bundle":".*/b1\.tar","sha256":"[0-9a-f]{64}","complete":true,"errors":0\}$' "$line"
B=$OUT/b1.tar
t_eq "printed sha256 is the archive's" "$(sha256sum "$B" | cut -d' ' -f1)" "$(jq -r .sha256 <<<"$line")"
t_empty "no .partial file is left" "$(ls "$OUT" | grep partial)"

# ---- stock tools
t_ok "tar -tf lists the bundle" tar -tf "$B"
t_ok "bsdtar -tf lists the bundle" bsdtar -tf "$B"
t_ok "minisign -V verifies NAME.tar.minisig" minisign -Vm "$B" -p "$T_TMP/key.pub"
X=$T_TMP/x
mkdir -p "$X"
t_ok "tar extracts it" tar -xf "$B" -C "$X"
t_ok "sha256sum -c SHA256SUMS passes" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
t_ok "minisign verifies SHA256SUMS.minisig" minisign -Vm "$X/SHA256SUMS" -x "$X/SHA256SUMS.minisig" -p "$T_TMP/key.pub"
cp "$B" "$T_TMP/f.tar"
cp "$B.minisig" "$T_TMP/f.tar.minisig"
off=$(($(stat -c %s "$B") / 2))
printf '\x5a' | dd of="$T_TMP/f.tar" bs=1 seek="$off" conv=notrunc status=none
t_fail "one flipped byte: minisign refuses the bundle" minisign -Vm "$T_TMP/f.tar" -p "$T_TMP/key.pub"
echo x >>"$X/processes.json"
t_fail "one changed member: sha256sum -c fails" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
rm -rf "$X" && mkdir -p "$X" && tar -xf "$B" -C "$X" 2>/dev/null

j() { jq -r "$@" 2>&1; }
M=$X/manifest.json
t_eq "manifest format_version" 2 "$(j .format_version "$M")"
t_eq "format 2: one container, at the top level" "1 " "$(j '"\(.containers | length) \(.containers[0].prefix)"' "$M")"
t_eq "manifest complete" true "$(j .complete "$M")"
t_eq "manifest target pid" "$P" "$(j .target.pid "$M")"
t_eq "manifest container id from the cgroup" "$CID" "$(j .target.container_id "$M")"
t_eq "manifest lists every member but itself and the sums" "$(($(wc -l <"$X/SHA256SUMS") - 1))" "$(j '.members|length' "$M")"
t_eq "manifest hashes agree with SHA256SUMS" "$(grep ' processes.json$' "$X/SHA256SUMS" | cut -d' ' -f1)" \
	"$(j '.members[]|select(.path=="processes.json").sha256' "$M")"
t_match "trusted comment names the bundle and its state" 'bundle=b1.tar id=.* complete=true' \
	"$(sed -n 3p "$B.minisig")"

# ---- processes
PJ=$X/processes.json
t_eq "init is pid 1 in the container (NSpid)" "[$P,1]" "$(j -c ".processes[]|select(.pid==$P).nspid" "$PJ")"
t_eq "init runs the workload" '["/bin/sh","/usr/bin/workload"]' "$(j -c ".processes[]|select(.pid==$P).cmdline" "$PJ")"
s1=$(j ".processes[]|select(.cmdline==[\"sleep\",\"100001\"]).ppid" "$PJ")
s2=$(j ".processes[]|select(.pid==${s1:-0}).ppid" "$PJ")
t_eq "2-level tree: sleep 100001 -> sh -> init" "$P" "$s2"
t_eq "every process is in the target's mount ns" 1 "$(j '[.processes[].ns.mnt]|unique|length' "$PJ")"
t_eq "process count equals the container's" "$(podman top "$T_TARGET_NAME" pid | tail -n +2 | wc -l)" "$(j '.processes|length' "$PJ")"
t_match "start time is UTC with ns" '^20[0-9]{2}-.*T.*\.[0-9]{9}Z$' "$(j ".processes[]|select(.pid==$P).start_time" "$PJ")"
t_match "capabilities recorded" '^[0-9a-f]{16}$' "$(j ".processes[]|select(.pid==$P).cap_eff" "$PJ")"
t_match "maps recorded" 'busybox' "$(j -c ".processes[]|select(.pid==$P).maps" "$PJ")"
up=$(j '.processes[]|select(.exe.path=="/data/holder-upper").pid' "$PJ")
t_eq "upperdir exe is stored" "exe/$up" "$(j ".processes[]|select(.pid==${up:-0}).exe.member" "$PJ")"
t_eq "upperdir exe hash equals the file's" "$(sha256sum "$UPPER/data/holder-upper" | cut -d' ' -f1)" \
	"$(j ".processes[]|select(.pid==${up:-0}).exe.sha256" "$PJ")"
del=$(j '.processes[]|select(.exe.deleted==true).pid' "$PJ" | head -1)
t_eq "deleted exe is stored and matches the original binary" "$(sha256sum "$BUILD/tests/fixtures/holder" | cut -d' ' -f1)" \
	"$(sha256sum "$X/exe/${del:-0}" 2>&1 | cut -d' ' -f1)"
t_eq "lower-layer exe is hashed, not stored" null "$(j ".processes[]|select(.pid==$P).exe.member" "$PJ")"
t_match "lower-layer exe hash recorded" '^[0-9a-f]{64}$' "$(j ".processes[]|select(.pid==$P).exe.sha256" "$PJ")"

# ---- fds
FJ=$X/fds.json
rec=$(j ".fds[]|select(.pid==$P and .fd==3).recovered.member" "$FJ")
t_eq "deleted-but-open file is flagged" true "$(j ".fds[]|select(.pid==$P and .fd==3).deleted" "$FJ")"
t_eq "its content is recovered" "to-be-deleted" "$(cat "$X/$rec" 2>&1)"
t_eq "append fd to /data/log.txt recorded" /data/log.txt "$(j ".fds[]|select(.pid==$P and .fd==4).target" "$FJ")"
mrec=$(j '.fds[]|select(.memfd==true).recovered.member' "$FJ" | head -1)
t_eq "memfd content is recovered" "memfd-evidence" "$(cat "$X/$mrec" 2>&1)"
t_match "socket fds are typed" 'socket' "$(j '[.fds[].type]|unique|join(",")' "$FJ")"

# ---- sockets (netlink)
SJ=$X/sockets.json
t_eq "sockets come from sock_diag" netlink "$(j .source "$SJ")"
check_sockets() {
	local sj=$1 src=$2
	t_match "$src: httpd LISTEN on [::]:8080 (tcp6)" 'LISTEN inet6' \
		"$(j '.sockets[]|select(.proto=="tcp" and .local.port==8080)|"\(.state) \(.family)"' "$sj")"
	t_match "$src: nc LISTEN on 127.0.0.1:9090" 'LISTEN inet 127.0.0.1' \
		"$(j '.sockets[]|select(.proto=="tcp" and .local.port==9090 and .state=="LISTEN")|"\(.state) \(.family) \(.local.addr)"' "$sj")"
	t_match "$src: an ESTABLISHED connection to 9090" 'ESTABLISHED' \
		"$(j '.sockets[]|select(.proto=="tcp" and .remote.port==9090)|.state' "$sj")"
	t_match "$src: UDP 0.0.0.0:5353" '0.0.0.0' "$(j '.sockets[]|select(.proto=="udp" and .local.port==5353)|.local.addr' "$sj")"
	t_match "$src: UNIX /run/holder.sock" 'LISTEN' "$(j '.sockets[]|select(.path=="/run/holder.sock")|.state' "$sj")"
	t_match "$src: abstract UNIX @afterimage-abstract" 'true' "$(j '.sockets[]|select(.path=="@afterimage-abstract")|.abstract' "$sj")"
	local hp
	hp=$(j '.processes[]|select(.comm=="httpd").pid' "$PJ")
	t_eq "$src: 8080 listener owned by httpd" "${hp:-none}" \
		"$(j '.sockets[]|select(.proto=="tcp" and .local.port==8080)|.owners[0].pid' "$sj")"
}
check_sockets "$SJ" netlink

# ---- mounts
MJ=$X/mounts.json
t_eq "overlay upperdir is the container's" "$UPPER" "$(j .overlay.upperdir "$MJ")"
t_eq "three lowerdirs, one per image layer" 3 "$(j '.overlay.lowerdirs|length' "$MJ")"
t_match "mountinfo recorded" 'proc' "$(j '[.mounts[].fstype]|join(",")' "$MJ")"

# ---- upperdir
UJ=$X/fs/upper.json
t_eq "new file content" "evidence-upper" "$(cat "$X/fs/upper/data/written.txt" 2>&1)"
t_match "copy-up keeps the lower content and the append" 'config-from-layer-2.*appended-by-container' \
	"$(tr '\n' ' ' <"$X/fs/upper/etc/config.txt")"
t_ok "whiteout becomes an OCI .wh. marker" test -f "$X/fs/upper/.wh.hello.sh"
t_eq "whiteout typed in the index" whiteout "$(j '.entries[]|select(.path=="/hello.sh").type' "$UJ")"
t_ok "opaque dir gets .wh..wh..opq" test -f "$X/fs/upper/etc/app/.wh..wh..opq"
t_eq "opaque dir role in the index" opaque "$(j '.entries[]|select(.path=="/etc/app").overlay[0]' "$UJ")"
t_match "hardlink stored as a tar hardlink" '^h.* fs/upper/data/written.txt link to fs/upper/data/hardlink.txt' \
	"$(tar -tvf "$B" 2>/dev/null | grep 'written.txt')"
t_match "absolute symlink stored, not followed" '^l.*fs/upper/data/evil-link -> /etc/shadow$' \
	"$(tar -tvf "$B" 2>/dev/null | grep evil-link)"
t_eq "FIFO indexed" fifo "$(j '.entries[]|select(.path=="/data/fifo").type' "$UJ")"
t_empty "FIFO never stored in the tar" "$(tar -tf "$B" 2>/dev/null | grep 'data/fifo')"
t_match "FIFO skip is logged" 'data/fifo' "$(j '.events[]|select(.level=="skip").path' "$X/capture-log.json")"
t_eq "hostile name kept byte-exact (hex)" 2f646174612f6261640a6e616d65ff \
	"$(j '.entries[]|select(.path_hex!=null).path_hex' "$UJ")"
t_ok "hostile name extracted byte-exact" test -f "$X/fs/upper/data/bad"$'\n'"name"$'\377'
t_eq "old atime recorded in the index" 978307200000000000 "$(j '.entries[]|select(.path=="/data/old-atime.txt").atime_ns' "$UJ")"
t_ok "old atime stored in the pax header" grep -aq "atime=978307200" "$B"
t_match "the target's old atime is unchanged after the capture" '^2001-01-01' "$(TZ=UTC stat -c %x "$UPPER/data/old-atime.txt")"
t_match "xattrs kept in the index" 'trusted.overlay.opaque' "$(j -c '.entries[]|select(.path=="/etc/app").xattrs' "$UJ")"

# ---- the key never reaches the bundle
keyb64=$(sed -n 2p "$T_TMP/key.key")
t_empty "the private key is nowhere in the bundle" "$(grep -aF "$keyb64" "$B")"

# ---- sockets through /proc as well
t_ok "snapshot with --sockets-source proc" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name b2 --sockets-source proc
X2=$T_TMP/x2
mkdir -p "$X2" && tar -xf "$OUT/b2.tar" -C "$X2" 2>/dev/null
t_eq "sockets come from /proc" proc "$(j .source "$X2/sockets.json")"
check_sockets "$X2/sockets.json" proc

# ---- caps, partial and failed captures
exec 7<"$T_TMP/key.key"
t_ok "snapshot with --key-fd and --fd-cap 4" "$CAPTURE" snapshot --pid "$P" --key-fd 7 -o "$OUT" --name b3 --fd-cap 4
exec 7<&-
X3=$T_TMP/x3
mkdir -p "$X3" && tar -xf "$OUT/b3.tar" -C "$X3" 2>/dev/null
rec=$(jq -r ".fds[]|select(.pid==$P and .fd==3).recovered.member" "$X3/fds.json")
t_eq "capped recovery keeps 4 bytes" "to-b" "$(cat "$X3/$rec" 2>&1)"
t_eq "truncation recorded on the fd" true "$(j ".fds[]|select(.pid==$P and .fd==3).recovered.truncated" "$X3/fds.json")"
t_match "truncation logged" 'truncated' "$(j '[.events[].level]|join(",")' "$X3/capture-log.json")"

mkdir -p "$T_TMP/emptyroot"
rc=0
"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name b4 --host-root "$T_TMP/emptyroot" >"$T_TMP/b4.out" 2>&1 || rc=$?
t_eq "an unreachable upperdir gives a partial bundle (exit 3)" 3 "$rc"
t_ok "the partial bundle is still signed" minisign -Vm "$OUT/b4.tar" -p "$T_TMP/key.pub"
t_eq "and marked incomplete" false "$(bsdtar -xOf "$OUT/b4.tar" manifest.json | jq -r .complete)"
t_match "the log says why" 'upperdir' "$(bsdtar -xOf "$OUT/b4.tar" capture-log.json | jq -r '.events[]|select(.level=="error").message')"

rc=0
"$CAPTURE" snapshot --pid 999999 --key "$T_TMP/key.key" -o "$OUT" --name b5 >/dev/null 2>&1 || rc=$?
t_eq "no such pid: exit 1" 1 "$rc"
t_empty "and no file at all" "$(ls "$OUT" | grep b5)"
rc=0
"$CAPTURE" snapshot --pid $$ --key "$T_TMP/key.key" -o "$OUT" --name b6 >/dev/null 2>&1 || rc=$?
t_eq "a host process (our own mount ns) is refused" 1 "$rc"
rc=0
"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name b1 >/dev/null 2>&1 || rc=$?
t_eq "an existing bundle is never overwritten" 1 "$rc"
t_ok "and it still verifies" minisign -Vm "$B" -p "$T_TMP/key.pub"
rc=0
"$CAPTURE" snapshot --pid "$P" -o "$OUT" >/dev/null 2>&1 || rc=$?
t_eq "no key: usage error (exit 2)" 2 "$rc"
