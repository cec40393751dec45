#!/usr/bin/env bash
# The sidecar in a pod, as Kubernetes runs it, emulated with podman: a pod sharing pid, net, ipc
# and uts; the workload container; the sidecar from a FROM-scratch image that holds only the
# static afterimage-capture. This script plays the kubelet: preStop httpGet with the token header,
# then SIGTERM to the target, a grace period, SIGKILL; then SIGTERM to the sidecar.
. "$(dirname "$0")/../lib.sh"
t_require_capture

if [[ $(ldd "$CAPTURE" 2>&1) != *"not a dynamic executable"* ]]; then
	t_skip "pod emulation" "$CAPTURE is not static (sanitizer build): a FROM-scratch image cannot run it"
	exit 0
fi

SIDECAR_IMAGE=localhost/afterimage-sidecar:test
POD=ai-pod-$$
SC=ai-pod-sidecar-$$
KEYS=$T_TMP/keys OUT=$T_TMP/out
mkdir -p "$KEYS" "$OUT"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
TOKEN=$(cat "$KEYS/token")

# ---- the distroless sidecar image: FROM scratch, one file
ctr=$(buildah from scratch)
t_cleanup "buildah rm $ctr"
mnt=$(buildah mount "$ctr")
install -m 0755 "$CAPTURE" "$mnt/afterimage-capture"
buildah config --entrypoint '["/afterimage-capture"]' --cmd '' "$ctr"
buildah umount "$ctr" >/dev/null
t_ok "build the FROM-scratch sidecar image" buildah commit --quiet --rm "$ctr" "$SIDECAR_IMAGE"
t_cleanup "podman rmi -f $SIDECAR_IMAGE"
files=$(podman run --rm --entrypoint /afterimage-capture "$SIDECAR_IMAGE" version 2>&1)
t_match "the image runs the static binary" '^afterimage-capture ' "$files"
t_eq "the image holds exactly one file" "/afterimage-capture" \
	"$(podman image mount "$SIDECAR_IMAGE" >/dev/null 2>&1; cd "$(podman image mount "$SIDECAR_IMAGE")" && find . -type f | sed 's/^\.//'; podman image unmount "$SIDECAR_IMAGE" >/dev/null 2>&1)"

# ---- the pod
t_cleanup "podman pod rm -f -t 0 $POD"
t_ok "create the pod (shared pid, net, ipc, uts)" podman pod create --name "$POD" --share pid,net,ipc,uts
t_target "ai-pod-target-$$" --pod "$POD"
TARGET=$T_TARGET_NAME
P=$T_TARGET_PID
STORAGE=$(podman info --format '{{.Store.GraphRoot}}')/overlay

# the capabilities docs/sidecar.md lists, nothing else; the cgroup tree writable for the freezer
t_cleanup "podman rm -f -t 0 $SC"
t_ok "start the sidecar in the pod" podman run -d --pod "$POD" --name "$SC" \
	--cap-drop all --cap-add SYS_PTRACE,DAC_READ_SEARCH,FOWNER,KILL,SYS_ADMIN \
	--read-only --tmpfs /run/afterimage \
	-v "$KEYS:/keys:ro" -v "$OUT:/out" -v "$STORAGE:$STORAGE:ro" -v /sys/fs/cgroup:/host/cgroup:rw \
	"$SIDECAR_IMAGE" serve --key /keys/k.key --token-file /keys/token -o /out \
	--target auto --cgroup-root /host/cgroup --grace 20

# the kubelet reaches the pod IP; the pod's network namespace is the target's
pcurl() { nsenter -t "$P" -n curl -sS -m 30 "$@"; }
health=
for ((i = 0; i < 100; i++)); do
	health=$(pcurl http://127.0.0.1:9102/healthz 2>/dev/null) && [[ $health == *'"target":'[1-9]* ]] && break
	sleep 0.1
done
t_match "healthz answers with the auto-discovered target" '"ok":true,"target":[1-9][0-9]*' "$health"
t_match "the sidecar logged the target it found (not the pause process, not itself)" \
	'"event":"target","pid":[0-9]+,.*"upperdir":"'"$STORAGE"'/' "$(podman logs "$SC" 2>&1)"
status=$(podman exec "$SC" /afterimage-capture trigger --socket /run/afterimage/trigger.sock --status 2>&1)
t_match "exec trigger socket answers status" '"captures":0' "$status"

t_eq "no token: 401" 401 "$(pcurl -o /dev/null -w '%{http_code}' http://127.0.0.1:9102/v1/capture)"
t_eq "wrong token: 401" 401 "$(pcurl -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer nope-nope-nope-nope' \
	http://127.0.0.1:9102/v1/capture)"
t_empty "no bundle written for refused triggers" "$(ls "$OUT")"

# ---- preStop httpGet (with the token header), as the kubelet sends it
resp=$(pcurl -w '\n%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:9102/v1/capture?reason=preStop")
code=${resp##*$'\n'}
body=${resp%$'\n'*}
running=$(podman inspect -f '{{.State.Running}}' "$TARGET")
t_eq "preStop answered 200" 200 "$code"
t_eq "the target was still running when preStop returned" true "$running"
t_match "answer names the sealed bundle" '"bundle":"/out/afterimage-[^"]+\.tar","sha256":"[0-9a-f]{64}","complete":true' "$body"
t_match "answer records the freeze" '"freeze":\{"frozen":true,"ms":[0-9.]+\}' "$body"

# ---- then the kubelet stops the target: SIGTERM, grace, SIGKILL
podman kill -s TERM "$TARGET" >/dev/null 2>&1
for ((i = 0; i < 20; i++)); do [[ $(podman inspect -f '{{.State.Running}}' "$TARGET") == true ]] || break; sleep 0.1; done
podman kill -s KILL "$TARGET" >/dev/null 2>&1
podman wait "$TARGET" >/dev/null 2>&1
sleep 0.5

B=$(ls "$OUT"/*.tar 2>/dev/null | head -1)
t_eq "one bundle (the target's exit right after preStop is not captured twice)" 1 "$(ls "$OUT"/*.tar 2>/dev/null | wc -l)"
t_ok "bundle verifies with stock minisign" minisign -Vm "$B" -p "$KEYS/k.pub"
manifest=$(tar -xOf "$B" manifest.json 2>/dev/null)
t_match "manifest: trigger http, reason preStop" '"trigger":"http","reason":"preStop"' "$manifest"
t_match "manifest: frozen with a cgroup freezer" '"freeze":\{"frozen":true,"ms":[0-9.]+,"method":"cgroup[12]"\}' "$manifest"
finished=$(podman inspect -f '{{.State.FinishedAt.UnixNano}}' "$TARGET")
ended=$(grep -o '"ended_ns":[0-9]*' <<<"$manifest" | cut -d: -f2)
t_ok "bundle sealed ($ended) before the target exited ($finished)" test "${ended:-9999999999999999999}" -lt "$finished"
procs=$(tar -xOf "$B" processes.json 2>/dev/null)
t_match "processes.json holds the workload's httpd" '"comm":"httpd"' "$procs"
t_match "processes.json holds sleep 100001" 'sleep.{1,20}100001' "$procs"
socks=$(tar -xOf "$B" sockets.json 2>/dev/null)
t_match "sockets.json holds the LISTEN on 8080" '"state":"LISTEN","local":\{"addr":"[:0-9.]+","port":8080\}' "$socks"
t_match "sockets.json holds the ESTABLISHED connection to 9090" '"state":"ESTABLISHED".{0,80}"port":9090' "$socks"
t_ok "the upperdir is in the bundle" sh -c "tar -tf '$B' 2>/dev/null | grep -qx 'fs/upper/data/written.txt'"

# ---- the sidecar's own SIGTERM: it captured already, so it just exits
t0=$EPOCHREALTIME
podman stop -t 20 "$SC" >/dev/null 2>&1
ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
t_eq "sidecar exited 0 on SIGTERM" 0 "$(podman inspect -f '{{.State.ExitCode}}' "$SC")"
t_ok "sidecar exited within 5 s of SIGTERM (${ms} ms)" test "$ms" -lt 5000
t_match "sidecar logged its SIGTERM and exit" '"event":"signal","message":"SIGTERM"}.*"event":"exit"' \
	"$(podman logs "$SC" 2>&1 | tr '\n' ' ')"
t_eq "still one bundle after the sidecar's SIGTERM" 1 "$(ls "$OUT"/*.tar 2>/dev/null | wc -l)"
