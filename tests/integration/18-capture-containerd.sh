#!/usr/bin/env bash
# The capture core on containerd, as a Kubernetes node runs it: Debian's containerd started by the
# test with a root, state and socket of its own (the overlayfs snapshotter at its usual layout under
# that root), the test image imported with `ctr images import` from podman's OCI archive, the
# workload run with `ctr run -d` under a 64-hex id as the CRI names containers. Captured from the
# host and from a sidecar container that joins the target's PID and network namespaces
# (`ctr run --with-ns`) with the snapshotter directory mounted read only; the podman capture
# test's core assertions on both bundles; attribution against the image; stock minisign. Then
# serve in such a sidecar: the target auto-discovered, a preStop-style HTTP trigger, the cgroup
# freezer on containerd's cgroup path, the workload thawed after.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze

if ! command -v containerd >/dev/null || ! command -v ctr >/dev/null; then
	t_skip "containerd capture" "containerd/ctr not installed (scripts/install-deps installs Debian's containerd)"
	exit 0
fi

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"

# ---- our own containerd: config with root, state and sockets under the test's temp dir
D=$T_TMP/ctd
mkdir -p "$D"
CROOT=$D/root
SNAP=$CROOT/io.containerd.snapshotter.v1.overlayfs
SOCK=$D/containerd.sock
NS=ai-ctd-$$
cat >"$D/config.toml" <<EOF
version = 2
root = "$CROOT"
state = "$D/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
EOF
containerd --config "$D/config.toml" >"$D/containerd.log" 2>&1 &
CTD_PID=$!
# last registered runs first: containers go before the daemon, the daemon before its mounts
t_cleanup "kill $CTD_PID; wait $CTD_PID; grep -o ' $(printf '%q' "$CROOT")/[^ ]*' /proc/self/mounts | xargs -r -n1 umount -l"
c() { ctr -a "$SOCK" -n "$NS" "$@"; }
for ((i = 0; i < 100; i++)); do c version >/dev/null 2>&1 && break; sleep 0.1; done
t_ok "our containerd answers on its own socket" c version

IMAGE=localhost/afterimage-test:3
podman save --format oci-archive -o "$T_TMP/image.tar" "$IMAGE" >/dev/null 2>&1
t_ok "ctr images import the test image (podman's OCI archive)" c images import "$T_TMP/image.tar"
t_match "the image is known to containerd" "$IMAGE" "$(c images ls -q 2>&1)"

# ---- the workload: ctr run -d under a CRI-like 64-hex id
ID=$(head -c 32 /dev/urandom | sha256sum | cut -d' ' -f1)
t_cleanup "ctr -a $SOCK -n $NS task kill -s KILL $ID; sleep 0.3; ctr -a $SOCK -n $NS task rm -f $ID; ctr -a $SOCK -n $NS containers rm $ID"
t_ok "ctr run -d the workload" c run -d "$IMAGE" "$ID"
P=
for ((i = 0; i < 300; i++)); do
	P=$(c task ls 2>/dev/null | awk -v id="$ID" '$1==id && $3=="RUNNING"{print $2}')
	[[ -n $P && -e /proc/$P/root/tmp/ready ]] && break
	sleep 0.1
done
t_ok "the workload is ready (host pid ${P:-none})" test -e "/proc/${P:-0}/root/tmp/ready"
[[ -n $P ]] || t_bail "no workload" "$(tail -n 20 "$D/containerd.log")"
UPPER=$(awk '$5=="/"{print}' "/proc/$P/mountinfo" | grep -o 'upperdir=[^,]*' | cut -d= -f2)
t_match "the root overlay is containerd's overlayfs snapshotter" "^$SNAP/snapshots/[0-9]+/fs$" "$UPPER"

KEYS=$T_TMP/keys OUT=$T_TMP/out
mkdir -p "$KEYS" "$OUT"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null

j() { jq -r "$@" 2>&1; }
# check_bundle LABEL BUNDLE INIT_PID: the core of 10-capture.sh; INIT_PID is the target's init as
# the capturing side sees it (host pid, or 1 from the sidecar)
check_bundle() {
	local w=$1 b=$2 ip=$3 x=$T_TMP/x-$1
	mkdir -p "$x"
	t_ok "$w: minisign verifies the bundle" minisign -Vm "$b" -p "$KEYS/k.pub"
	tar -xf "$b" -C "$x" 2>/dev/null
	t_ok "$w: sha256sum -c SHA256SUMS passes" bash -c "cd '$x' && sha256sum -c --quiet SHA256SUMS"
	t_eq "$w: manifest complete" true "$(j .complete "$x/manifest.json")"
	t_eq "$w: container id from containerd's cgroup path" "$ID" "$(j .target.container_id "$x/manifest.json")"
	local pj=$x/processes.json fj=$x/fds.json sj=$x/sockets.json uj=$x/fs/upper.json
	t_eq "$w: init runs the workload" '["/bin/sh","/usr/bin/workload"]' "$(j -c ".processes[]|select(.pid==$ip).cmdline" "$pj")"
	t_eq "$w: init is pid 1 in the container" 1 "$(j ".processes[]|select(.pid==$ip).nspid[-1]" "$pj")"
	t_eq "$w: process count equals the container's" "$(c task ps "$ID" | tail -n +2 | wc -l)" "$(j '.processes|length' "$pj")"
	t_eq "$w: the sidecar is not among the processes" 0 "$(j '[.processes[]|select(.comm=="afterimage-capture")]|length' "$pj")"
	local up del rec mrec
	up=$(j '.processes[]|select(.exe.path=="/data/holder-upper").pid' "$pj")
	t_eq "$w: upperdir exe hash equals the file's" "$(sha256sum "$UPPER/data/holder-upper" | cut -d' ' -f1)" \
		"$(j ".processes[]|select(.pid==${up:-0}).exe.sha256" "$pj")"
	del=$(j '.processes[]|select(.exe.deleted==true).pid' "$pj" | head -1)
	t_eq "$w: deleted exe is stored and matches the original binary" \
		"$(sha256sum "$BUILD/tests/fixtures/holder" | cut -d' ' -f1)" "$(sha256sum "$x/exe/${del:-0}" 2>&1 | cut -d' ' -f1)"
	rec=$(j ".fds[]|select(.pid==$ip and .fd==3).recovered.member" "$fj")
	t_eq "$w: deleted-but-open file is flagged" true "$(j ".fds[]|select(.pid==$ip and .fd==3).deleted" "$fj")"
	t_eq "$w: its content is recovered" "to-be-deleted" "$(cat "$x/$rec" 2>&1)"
	mrec=$(j '.fds[]|select(.memfd==true).recovered.member' "$fj" | head -1)
	t_eq "$w: memfd content is recovered" "memfd-evidence" "$(cat "$x/$mrec" 2>&1)"
	t_match "$w: httpd LISTEN on [::]:8080" 'LISTEN inet6' \
		"$(j '.sockets[]|select(.proto=="tcp" and .local.port==8080)|"\(.state) \(.family)"' "$sj")"
	t_match "$w: an ESTABLISHED connection to 9090" 'ESTABLISHED' \
		"$(j '.sockets[]|select(.proto=="tcp" and .remote.port==9090)|.state' "$sj")"
	t_match "$w: UNIX /run/holder.sock" 'LISTEN' "$(j '.sockets[]|select(.path=="/run/holder.sock")|.state' "$sj")"
	t_eq "$w: overlay upperdir is the snapshot's" "$UPPER" "$(j .overlay.upperdir "$x/mounts.json")"
	t_eq "$w: three lowerdirs, one per image layer" 3 "$(j '.overlay.lowerdirs|length' "$x/mounts.json")"
	t_eq "$w: new file content" "evidence-upper" "$(cat "$x/fs/upper/data/written.txt" 2>&1)"
	t_match "$w: copy-up keeps the lower content and the append" 'config-from-layer-2.*appended-by-container' \
		"$(tr '\n' ' ' <"$x/fs/upper/etc/config.txt")"
	t_eq "$w: whiteout typed in the index" whiteout "$(j '.entries[]|select(.path=="/hello.sh").type' "$uj")"
	local lay
	lay=$("$ANALYZE" layers "$b" --image "oci-archive:$T_TMP/image.tar" --changed --quiet 2>&1)
	t_match "$w: analyze attributes the copy-up to layer 2" 'modified +2 +/etc/config.txt' "$lay"
	t_match "$w: analyze attributes the whiteout to layer 3" 'deleted +3 +/hello.sh' "$lay"
	t_match "$w: analyze sees the runtime-added file" 'added +- +/data/written.txt' "$lay"
	t_eq "$w: the image check finds the imported image is the one that ran" match \
		"$("$ANALYZE" layers "$b" --image "oci-archive:$T_TMP/image.tar" --json --quiet 2>&1 | jq -r .image_check.verdict)"
}

# ---- from the host
t_ok "host: snapshot --pid exits 0" "$CAPTURE" snapshot --pid "$P" --key "$KEYS/k.key" -o "$OUT" --name host
check_bundle host "$OUT/host.tar" "$P"

# ---- from a sidecar container sharing the target's PID and network namespaces
if [[ $(ldd "$CAPTURE" 2>&1) != *"not a dynamic executable"* ]]; then
	t_skip "containerd sidecar" "$CAPTURE is not static (sanitizer build): a FROM-scratch image cannot run it"
	exit 0
fi
SIDECAR_IMAGE=localhost/ai-ctd-sidecar-$$:test
bctr=$(buildah from scratch)
t_cleanup "buildah rm $bctr"
mnt=$(buildah mount "$bctr")
install -m 0755 "$CAPTURE" "$mnt/afterimage-capture"
buildah config --entrypoint '["/afterimage-capture"]' --cmd '' "$bctr"
buildah umount "$bctr" >/dev/null
t_ok "build the FROM-scratch sidecar image" buildah commit --quiet --rm "$bctr" "$SIDECAR_IMAGE"
t_cleanup "podman rmi -f $SIDECAR_IMAGE"
podman save --format oci-archive -o "$T_TMP/sidecar.tar" "$SIDECAR_IMAGE" >/dev/null 2>&1
t_ok "ctr images import the sidecar image" c images import "$T_TMP/sidecar.tar"
SC=ai-ctd-sidecar-$$
t_cleanup "ctr -a $SOCK -n $NS task rm -f $SC; ctr -a $SOCK -n $NS containers rm $SC"
# the capabilities docs/sidecar.md lists; a read-only root; the snapshotter read only at its path
t_ok "sidecar: ctr run --with-ns pid,network; snapshot --pid 1" c run --rm --read-only \
	--cap-add CAP_SYS_PTRACE --cap-add CAP_DAC_READ_SEARCH --cap-add CAP_SYS_ADMIN \
	--with-ns "pid:/proc/$P/ns/pid" --with-ns "network:/proc/$P/ns/net" \
	--mount "type=bind,src=$SNAP,dst=$SNAP,options=rbind:ro" \
	--mount "type=bind,src=$KEYS,dst=/keys,options=rbind:ro" \
	--mount "type=bind,src=$OUT,dst=/out,options=rbind:rw" \
	"$SIDECAR_IMAGE" "$SC" /afterimage-capture snapshot --pid 1 --key /keys/k.key -o /out --name sidecar
t_match "sidecar: printed the sealed bundle" '"bundle":"/out/sidecar.tar".*"complete":true' "$(cat "$T_TMP/.t_out" 2>/dev/null)"
check_bundle sidecar "$OUT/sidecar.tar" 1
"$ANALYZE" diff "$OUT/host.tar" "$OUT/sidecar.tar" >"$T_TMP/diff.out" 2>&1
t_match "diff of the host and the sidecar bundle runs" '[0-9]+ differences?$' "$(cat "$T_TMP/diff.out")"
t_empty "host and sidecar bundles of the same container: no file differs" "$(grep '^[-+~] file' "$T_TMP/diff.out")"
# ---- serve in the sidecar, as in a pod: auto-discovered target, HTTP trigger, cgroup freezer
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
SV=ai-ctd-serve-$$
OUT2=$T_TMP/out2
mkdir -p "$OUT2"
t_cleanup "ctr -a $SOCK -n $NS task kill -s KILL $SV; sleep 0.3; ctr -a $SOCK -n $NS task rm -f $SV; ctr -a $SOCK -n $NS containers rm $SV"
t_ok "sidecar: ctr run -d serve --target auto" c run -d --read-only \
	--cap-add CAP_SYS_PTRACE --cap-add CAP_DAC_READ_SEARCH --cap-add CAP_SYS_ADMIN \
	--with-ns "pid:/proc/$P/ns/pid" --with-ns "network:/proc/$P/ns/net" \
	--mount "type=bind,src=$SNAP,dst=$SNAP,options=rbind:ro" \
	--mount "type=bind,src=$KEYS,dst=/keys,options=rbind:ro" \
	--mount "type=bind,src=$OUT2,dst=/out,options=rbind:rw" \
	--mount "type=bind,src=/sys/fs/cgroup,dst=/host/cgroup,options=rbind:rw" \
	--mount "type=tmpfs,src=tmpfs,dst=/run/afterimage,options=nosuid:nodev:size=1m" \
	"$SIDECAR_IMAGE" "$SV" /afterimage-capture serve --key /keys/k.key --token-file /keys/token \
	-o /out --listen 127.0.0.1:18550 --target auto --cgroup-root /host/cgroup --grace 20
pcurl() { nsenter -t "$P" -n curl -sS -m 30 "$@"; }
health=
for ((i = 0; i < 100; i++)); do
	health=$(pcurl http://127.0.0.1:18550/healthz 2>/dev/null) && [[ $health == *'"target":'[1-9]* ]] && break
	sleep 0.1
done
t_match "sidecar serve: healthz names the auto-discovered target" '"ok":true,"target":1[,}]' "$health"
resp=$(pcurl -H "Authorization: Bearer $(cat "$KEYS/token")" "http://127.0.0.1:18550/v1/capture?reason=preStop" 2>&1)
t_match "sidecar serve: preStop answered with a sealed, frozen bundle" \
	'"bundle":"/out/[^"]+\.tar".*"complete":true.*"freeze":\{"frozen":true' "$resp"
B3=$(ls "$OUT2"/*.tar 2>/dev/null | head -1)
t_ok "sidecar serve: the bundle verifies with stock minisign" minisign -Vm "${B3:-none}" -p "$KEYS/k.pub"
t_match "sidecar serve: frozen with containerd's cgroup" '"freeze":\{"frozen":true,"ms":[0-9.]+,"method":"cgroup[12]"\}' \
	"$(tar -xOf "${B3:-none}" manifest.json 2>/dev/null)"
t_eq "sidecar serve: the workload is thawed" RUNNING "$(c task ls | awk -v id="$ID" '$1==id{print $3}')"
t_match "sidecar serve: the upperdir's copy-up is in the bundle" 'appended-by-container' \
	"$(tar -xOf "${B3:-none}" fs/upper/etc/config.txt 2>/dev/null)"

t_eq "the workload still runs after both captures" RUNNING "$(c task ls | awk -v id="$ID" '$1==id{print $3}')"
