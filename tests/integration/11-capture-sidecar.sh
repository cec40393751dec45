#!/usr/bin/env bash
# The same capture from a second container that shares the target's PID namespace, as a sidecar
# in a Kubernetes pod with shareProcessNamespace: the host's container storage is mounted read
# only and passed as --host-root, the key arrives as a mounted secret file.
. "$(dirname "$0")/../lib.sh"
t_require_capture

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-side-$$"
P=$T_TARGET_PID
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$T_TARGET_NAME")
STORAGE=$(podman info -f '{{.Store.GraphRoot}}')
OUT=$T_TMP/out
mkdir -p "$OUT" "$T_TMP/secret"
"$CAPTURE" keygen -o "$T_TMP/secret/key" >/dev/null
# A sanitizer build is dynamically linked: lend it the host's libraries, read only.
LIBS=()
if readelf -l "$CAPTURE" | grep -q 'program interpreter'; then
	t_diag "dynamic build: mounting the host's /lib, /lib64 and /usr/lib into the sidecar"
	LIBS=(-v /lib:/lib:ro -v /lib64:/lib64:ro -v /usr/lib:/usr/lib:ro)
fi
SC=ai-sidecar-$$
t_cleanup "podman rm -f -t 0 $SC"
# Only what the capture needs: read other processes' /proc (SYS_PTRACE), read files whatever
# their mode (DAC_READ_SEARCH), enter the target's netns for sock_diag (SYS_ADMIN).
rc=0
podman run --name "$SC" --pid "container:$T_TARGET_NAME" \
	--cap-drop all --cap-add SYS_PTRACE,DAC_READ_SEARCH,SYS_ADMIN --security-opt label=disable \
	-v "$BUILD/afterimage-capture:/afterimage-capture:ro" "${LIBS[@]}" \
	-v "$STORAGE:/host$STORAGE:ro" \
	-v "$T_TMP/secret:/secret:ro" -v "$OUT:/out" \
	-e AFTERIMAGE_POD_NAME=web-0 -e AFTERIMAGE_POD_NAMESPACE=prod -e AFTERIMAGE_POD_UID=1234-abcd \
	localhost/afterimage-test:1 \
	/afterimage-capture snapshot --pid 1 --key /secret/key.key -o /out --name side --host-root /host \
	>"$T_TMP/side.out" 2>&1 || rc=$?
t_eq "sidecar capture exits 0 (complete)" 0 "$rc"
[[ $rc == 0 ]] || t_diag "$(cat "$T_TMP/side.out")"
B=$OUT/side.tar
t_ok "minisign verifies the sidecar's bundle" minisign -Vm "$B" -p "$T_TMP/secret/key.pub"
X=$T_TMP/x
mkdir -p "$X" && tar -xf "$B" -C "$X" 2>/dev/null
t_ok "sha256sum -c passes" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
j() { jq -r "$@" 2>&1; }
t_eq "target is pid 1 in the sidecar's view" 1 "$(j .target.pid "$X/manifest.json")"
t_eq "pod name from AFTERIMAGE_POD_NAME" web-0 "$(j .target.pod.name "$X/manifest.json")"
t_eq "pod namespace" prod "$(j .target.pod.namespace "$X/manifest.json")"
t_empty "the sidecar itself is not captured" "$(j '.processes[]|select(.comm=="afterimage-capt")|.pid' "$X/processes.json")"
t_eq "the workload's processes are all there" "$(podman top "$T_TARGET_NAME" pid | tail -n +2 | wc -l)" \
	"$(j '.processes|length' "$X/processes.json")"
t_eq "sockets through sock_diag inside the target's netns" netlink "$(j .source "$X/sockets.json")"
t_match "httpd listener seen" 'LISTEN' "$(j '.sockets[]|select(.local.port==8080).state' "$X/sockets.json")"
t_eq "upperdir found through --host-root" "$UPPER" "$(j .upperdir "$X/fs/upper.json")"
t_eq "upper file content" "evidence-upper" "$(cat "$X/fs/upper/data/written.txt" 2>&1)"
t_eq "deleted-open file recovered" "to-be-deleted" \
	"$(cat "$X/$(j '.fds[]|select(.deleted==true and .fd==3).recovered.member' "$X/fds.json" | head -1)" 2>&1)"
t_match "target's old atime still unchanged" '^2001-01-01' "$(TZ=UTC stat -c %x "$UPPER/data/old-atime.txt")"
