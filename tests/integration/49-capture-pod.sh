#!/usr/bin/env bash
# A whole pod in one bundle: a podman pod sharing pid, net, ipc and uts, two app containers of the
# test image, files in /dev/shm, a --tmpfs mount, a writable bind mount and a bind mount whose host
# path looks like a Kubernetes secret volume. Captured from the host (snapshot --pid PID --pod) and
# from a sidecar in the pod (serve --target auto, which turns into the pod with two app containers):
# both containers' processes, upperdirs and ephemeral volumes are in one bundle, frozen in one window,
# the secret's content is not; stock minisign verifies; the analyzer names the container of every
# row and attributes volume files to their volume.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze

POD=ai-C-pod49-$$
A=ai-C-pod49-a-$$ B=ai-C-pod49-b-$$
KEYS=$T_TMP/keys OUT=$T_TMP/out HW=$T_TMP/hostw SEC="$T_TMP/pods/u1/volumes/kubernetes.io~secret/tok"
mkdir -p "$KEYS" "$OUT" "$HW" "$SEC"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
echo "from-the-host" >"$HW/host.txt"
SECRET=s3cr3t-$RANDOM-$RANDOM-token
printf '%s' "$SECRET" >"$SEC/token"

t_cleanup "podman pod rm -f -t 0 $POD"
t_ok "create the pod (shared pid, net, ipc, uts)" podman pod create --name "$POD" --share pid,net,ipc,uts
t_target "$A" --pod "$POD" --tmpfs /scratch -v "$HW:/mnt/w" -v "$SEC:/var/run/secrets/tok:ro"
PA=$T_TARGET_PID
t_target "$B" --pod "$POD"
PB=$T_TARGET_PID
IDA=$(podman inspect -f '{{.Id}}' "$A") IDB=$(podman inspect -f '{{.Id}}' "$B")
podman exec "$A" sh -c 'echo shm-of-a >/dev/shm/dropped-a; printf "#!/bin/sh\necho hi\n" >/scratch/tool.sh; chmod +x /scratch/tool.sh; echo runtime >/mnt/w/written-in-a; echo upper-a >/tmp/upper-a.txt'
# B deletes an image file A still holds open: B's whiteout must never hide A's file
podman exec "$B" sh -c 'echo upper-b >/tmp/upper-b.txt; rm /etc/config.txt /usr/bin/workload'
# a process holds a file of the bind mount and one of /dev/shm open: the analyzer must say volume
podman exec -d "$A" sh -c 'exec 7</mnt/w/host.txt 8</dev/shm/dropped-a 9</usr/bin/workload; exec sleep 100049'
for ((i = 0; i < 50; i++)); do pgrep -f 'sleep 100049' >/dev/null && break; sleep 0.1; done

check_bundle() { # WHO BUNDLE PUBKEY
	local who=$1 b=$2 pub=$3 m
	t_ok "$who: verifies with stock minisign" minisign -Vm "$b" -p "$pub"
	m=$(tar -xOf "$b" manifest.json 2>/dev/null)
	t_eq "$who: format_version 2" 2 "$(jq -r .format_version <<<"$m")"
	t_eq "$who: two containers listed (the pause container left out)" 2 "$(jq -r '.containers | length' <<<"$m")"
	t_eq "$who: their ids" "$(printf '%s\n' "$IDA" "$IDB" | sort | paste -sd,)" \
		"$(jq -r '[.containers[].container_id] | sort | join(",")' <<<"$m")"
	t_eq "$who: one freeze window, frozen" true "$(jq -r .freeze.frozen <<<"$m")"
	t_match "$who: the window is measured" '^[0-9]+\.[0-9]+$' "$(jq -r .freeze.ms <<<"$m")"
	t_eq "$who: one freeze entry only (one window, not one per container)" 1 \
		"$(grep -o '"freeze":' <<<"$m" | wc -l)"
	local list
	list=$(tar -tf "$b" 2>/dev/null)
	for k in 0 1; do
		t_ok "$who: containers/$k/processes.json" grep -qx "containers/$k/processes.json" <<<"$list"
		t_ok "$who: containers/$k/fs/upper.json" grep -qx "containers/$k/fs/upper.json" <<<"$list"
		t_ok "$who: containers/$k/volumes.json" grep -qx "containers/$k/volumes.json" <<<"$list"
	done
	t_ok "$who: the shared network namespace's sockets once, at the top" grep -qx sockets.json <<<"$list"
	t_empty "$who: no per-container sockets.json" "$(grep 'containers/.*/sockets.json' <<<"$list")"
	# which index is which container
	local ia ib
	ia=$(jq -r --arg id "$IDA" '.containers[] | select(.container_id == $id) | .index' <<<"$m")
	ib=$(jq -r --arg id "$IDB" '.containers[] | select(.container_id == $id) | .index' <<<"$m")
	t_match "$who: A's processes hold its sleep" 'sleep.{1,20}100049' \
		"$(tar -xOf "$b" "containers/$ia/processes.json" 2>/dev/null)"
	t_empty "$who: B's processes do not" "$(tar -xOf "$b" "containers/$ib/processes.json" 2>/dev/null | grep -o '100049')"
	t_ok "$who: A's upperdir file" grep -qx "containers/$ia/fs/upper/tmp/upper-a.txt" <<<"$list"
	t_ok "$who: B's upperdir file" grep -qx "containers/$ib/fs/upper/tmp/upper-b.txt" <<<"$list"
	t_eq "$who: A's /dev/shm file stored, its content intact" shm-of-a \
		"$(tar -xOf "$b" "$(tar -xOf "$b" "containers/$ia/volumes.json" 2>/dev/null |
			jq -r '.volumes[] | select(.mount_point=="/dev/shm") | .entries[] | select(.path=="/dropped-a") | .member')" 2>/dev/null)"
	local vj
	vj=$(tar -xOf "$b" "containers/$ia/volumes.json" 2>/dev/null)
	t_eq "$who: the --tmpfs mount is a tmpfs volume, its script stored" "tmpfs containers/$ia/volumes/" \
		"$(jq -r '.volumes[] | select(.mount_point=="/scratch") | "\(.kind) \(.entries[0].member)"' <<<"$vj" | sed 's|volumes/[0-9]*/.*|volumes/|')"
	t_eq "$who: the secret-like volume is listed as a secret, hashed" "secret hashed $(printf '%s' "$SECRET" | sha256sum | cut -d' ' -f1)" \
		"$(jq -r '.volumes[] | select(.mount_point=="/var/run/secrets/tok") | "\(.kind) \(.content) \(.entries[] | select(.path=="/token") | .sha256)"' <<<"$vj")"
	t_eq "$who: its content is nowhere in the bundle" 0 "$(grep -c -a -- "$SECRET" "$b")"
	t_empty "$who: ephemeral (default): the writable bind mount is not stored" \
		"$(jq -r '.volumes[] | select(.mount_point=="/mnt/w") | .mount_point' <<<"$vj")"
	# the analyzer
	local na nb
	na=${IDA:0:12} nb=${IDB:0:12}
	t_match "$who: ps names each process's container" "$na +[0-9]+ .*sleep 100049" "$("$ANALYZE" ps "$b" 2>&1)"
	t_match "$who: ps has a CONTAINER column" '^CONTAINER +PID' "$("$ANALYZE" ps "$b" 2>&1)"
	local files
	files=$("$ANALYZE" files "$b" 2>&1)
	t_match "$who: files: A's upperdir file under A" "$na .* /tmp/upper-a.txt" "$files"
	t_match "$who: files: B's upperdir file under B" "$nb .* /tmp/upper-b.txt" "$files"
	t_match "$who: files: A's /dev/shm file, on its volume" "$na .*volume +/dev/shm/dropped-a +\[volume /dev/shm tmpfs\]" "$files"
	t_match "$who: files: the secret, content not stored" '/var/run/secrets/tok/token +\[volume /var/run/secrets/tok secret, content not stored\]' "$files"
	local fd
	fd=$("$ANALYZE" findings "$b" 2>&1)
	t_match "$who: findings: an open /dev/shm file is the volume's" 'fd 8 /dev/shm/dropped-a: volume /dev/shm tmpfs' "$fd"
	t_match "$who: fds name the container" "$na +[0-9]+ +[0-9]+ +file" "$("$ANALYZE" fds "$b" 2>&1)"
	t_match "$who: net names the owners' containers" "@($na|$nb)" "$("$ANALYZE" net "$b" 2>&1)"
	t_match "$who: ps --json has the container key" "\"container\":\"$na\"" "$("$ANALYZE" ps --json "$b" 2>&1)"
}

# ---- from the host
r=$("$CAPTURE" snapshot --pid "$PA" --pod -k "$KEYS/k.key" -o "$OUT" 2>"$T_TMP/snap.err")
t_eq "host: snapshot --pod exits 0 (complete)" 0 "$?"
HB=$(jq -r .bundle <<<"$r")
t_ok "host: a bundle" test -f "$HB"
check_bundle host "$HB" "$KEYS/k.pub"
hm=$(tar -xOf "$HB" manifest.json 2>/dev/null)
t_eq "host: each container's runtime spec stored (podman's state is readable on the host)" \
	"containers/0/config.json containers/1/config.json" "$(jq -r '[.containers[].identity.runtime_spec] | sort | join(" ")' <<<"$hm")"
t_match "host: the spec is the container's (its annotations)" '"annotations"' \
	"$(tar -xOf "$HB" containers/0/config.json 2>/dev/null)"
t_eq "host: the pod is thawed after" "Running Running" \
	"$(podman inspect -f '{{.State.Status}}' "$A" | sed 's/running/Running/') $(podman inspect -f '{{.State.Status}}' "$B" | sed 's/running/Running/')"
t_ok "host: both answer after the capture" podman exec "$B" true
# --volumes writable stores the bind mount, and a file the process holds there is the volume's
r=$("$CAPTURE" snapshot --pid "$PA" --pod --volumes writable -k "$KEYS/k.key" -o "$OUT" -n writable 2>>"$T_TMP/snap.err")
WB=$OUT/writable.tar
vj=$(tar -xOf "$WB" "containers/0/volumes.json" 2>/dev/null)
[[ $(tar -xOf "$WB" manifest.json 2>/dev/null | jq -r '.containers[0].container_id') == "$IDA" ]] ||
	vj=$(tar -xOf "$WB" "containers/1/volumes.json" 2>/dev/null)
t_eq "writable: the bind mount stored, the host's file and the one written at runtime" "bind /host.txt /written-in-a" \
	"$(jq -r '.volumes[] | select(.mount_point=="/mnt/w") | "\(.kind) \([.entries[].path] | sort | join(" "))"' <<<"$vj")"
t_match "writable: the open file on the bind mount is the volume's, not added at runtime" \
	'fd 7 /mnt/w/host.txt: volume /mnt/w bind' "$("$ANALYZE" findings "$WB" 2>&1)"
# --memory of a pod: each container's cores under its prefix, read back by the analyzer
r=$("$CAPTURE" snapshot --pid "$PA" --pod --memory --volumes none -k "$KEYS/k.key" -o "$OUT" -n mem 2>>"$T_TMP/snap.err")
MB=$OUT/mem.tar
t_eq "memory of a pod: cores of both containers, each under its own prefix" "0 1" \
	"$(tar -tf "$MB" 2>/dev/null | sed -n 's|^containers/\([0-9]\)/memory/[0-9]*\.core$|\1|p' | sort -u | paste -sd' ')"
PSL=$(pgrep -f 'sleep 100049' | head -1)
MJ=$("$ANALYZE" memory "$MB" --maps --json 2>/dev/null)
t_eq "memory --maps of a pod: the processes of both containers" "yes yes" \
	"$(for c in "$IDA" "$IDB"; do
		pid=$(tar -xOf "$MB" manifest.json | jq -r --arg id "$c" '.containers[]|select(.container_id==$id).pid')
		jq -e --argjson p "$pid" '[.maps[]|select(.pid==$p)]|length>0' <<<"$MJ" >/dev/null && echo yes || echo no
	done | paste -sd' ')"
t_match "memory --maps of a pod: the kernel's names from each container's index" '"kind":"stack"' \
	"$(jq -c --argjson p "$PSL" '.maps[]|select(.pid==$p)' <<<"$MJ")"
# the watchdog: a snapshot killed (SIGKILL) while the pod is frozen leaves both containers thawed
frozen_of() { # PID: 1 frozen, 0 not (cgroup v2 cgroup.events, else the v1 freezer)
	local cg ev f
	cg=$(sed -n 's/^0:://p' "/proc/$1/cgroup")
	for f in "/sys/fs/cgroup$cg/cgroup.events" "/sys/fs/cgroup/unified$cg/cgroup.events"; do [[ -f $f ]] && ev=$f && break; done
	if [[ -n ${ev:-} ]]; then sed -n 's/^frozen //p' "$ev"; else
		f=$(sed -n 's/^[0-9]*:freezer:\(.*\)$/\/sys\/fs\/cgroup\/freezer\1\/freezer.state/p' "/proc/$1/cgroup")
		[[ $(cat "$f" 2>/dev/null) == FROZEN ]] && echo 1 || echo 0
	fi
}
mkdir -p "$T_TMP/killed"
"$CAPTURE" snapshot --pid "$PA" --pod --debug-freeze-hold-ms 5000 -k "$KEYS/k.key" -o "$T_TMP/killed" >/dev/null 2>&1 &
kp=$!
both=
for ((i = 0; i < 100; i++)); do
	both="$(frozen_of "$PA") $(frozen_of "$PB")"
	[[ $both == "1 1" ]] && break
	sleep 0.05
done
t_eq "watchdog: both containers frozen at once during the window" "1 1" "$both"
disown "$kp" 2>/dev/null # no job-control notice for the kill
kill -9 "$kp"
for ((i = 0; i < 40; i++)); do
	both="$(frozen_of "$PA") $(frozen_of "$PB")"
	[[ $both == "0 0" ]] && break
	sleep 0.05
done
t_eq "watchdog: SIGKILLed mid-window, both thawed" "0 0" "$both"

# layers: each container against its image (NAME=REF, repeatable); the upperdirs stay apart
t_ok "podman save oci-dir" podman save --format oci-dir -o "$T_TMP/ocidir" localhost/afterimage-test:3
L=$("$ANALYZE" layers "$HB" --image "${IDA:0:12}=oci:$T_TMP/ocidir" --image "${IDB:0:12}=oci:$T_TMP/ocidir" --changed 2>&1)
t_match "layers --image NAME=REF: a section per container" "== container ${IDA:0:12}: image oci:.*== container ${IDB:0:12}: image oci:" "$(tr '\n' ' ' <<<"$L")"
sa=$(sed -n "/== container ${IDA:0:12}/,/== container ${IDB:0:12}/p" <<<"$L")
sb=$(sed -n "/== container ${IDB:0:12}/,\$p" <<<"$L")
t_match "layers: A's file added in A's section" 'added .*/tmp/upper-a.txt' "$sa"
t_empty "layers: B's file not in A's section" "$(grep upper-b.txt <<<"$sa")"
t_match "layers: B's file added in B's section" 'added .*/tmp/upper-b.txt' "$sb"
t_empty "layers: A's file not in B's section" "$(grep upper-a.txt <<<"$sb")"
t_match "layers: a NAME the bundle does not have is refused" 'no container of the bundle is named nosuch' \
	"$("$ANALYZE" layers "$HB" --image "nosuch=oci:$T_TMP/ocidir" 2>&1)"
# findings, timeline and report: each container's upperdir over its own image, never one tree
na=${IDA:0:12} nb=${IDB:0:12}
F=$("$ANALYZE" findings "$HB" --image "oci:$T_TMP/ocidir" 2>&1)
t_match "findings: B's whiteout is B's finding" "\($nb\) /etc/config.txt: file of layer 2 deleted at runtime" "$F"
t_empty "findings: and not A's" "$(grep -E "\($na\) /etc/config.txt" <<<"$F")"
t_match "findings: the file A holds open is still the image's in A (B deleted only its own)" \
	'fd 9 /usr/bin/workload: image \(layer 1\)' "$F"
t_match "findings: the executable written to A's tmpfs volume, though no process holds it" \
	"AI-PER-014 +executable-on-ephemeral-volume +\($na\) /scratch/tool.sh: an executable written to the tmpfs volume /scratch" "$F"
t_empty "findings: a plain data file on /dev/shm is not one" "$(grep 'executable-on-ephemeral-volume.*dropped-a' <<<"$F")"
FJ=$("$ANALYZE" findings "$HB" --image "oci:$T_TMP/ocidir" --json 2>/dev/null)
t_eq "findings --json: an image check per container, each named" "$(printf '%s\n' "$na" "$nb" | sort | paste -sd,)" \
	"$(jq -r '[.image_checks[].container] | sort | join(",")' <<<"$FJ")"
t_eq "findings --json: the path finding carries its container" "$nb" \
	"$(jq -r '.findings[] | select(.kind=="image-file-deleted" and .path=="/etc/config.txt") | .container' <<<"$FJ")"
t_eq "findings --container B keeps B's path finding" "/etc/config.txt" \
	"$("$ANALYZE" findings "$HB" --image "oci:$T_TMP/ocidir" --container "$nb" --json 2>/dev/null |
		jq -r '.findings[] | select(.kind=="image-file-deleted" and .path=="/etc/config.txt") | .path')"
t_empty "findings --container A drops it" \
	"$("$ANALYZE" findings "$HB" --image "oci:$T_TMP/ocidir" --container "$na" --json 2>/dev/null |
		jq -r '.findings[] | select(.kind=="image-file-deleted" and .path=="/etc/config.txt") | .path')"
BF=$("$ANALYZE" timeline "$HB" --image "oci:$T_TMP/ocidir" --format bodyfile 2>&1)
t_match "timeline bodyfile: B's whiteout under B's name" "^0\|\[$nb\] /etc/config.txt \(deleted: whiteout\)\|" \
	"$(grep -F "[$nb] /etc/config.txt" <<<"$BF")"
t_match "timeline bodyfile: A's added file under A's, with its status" "^0\|\[$na\] /tmp/upper-a.txt \(added\)\|" \
	"$(grep -F '/tmp/upper-a.txt' <<<"$BF")"
t_eq "timeline jsonl: B's whiteout event carries B's name" "$nb" \
	"$("$ANALYZE" timeline "$HB" --format jsonl 2>/dev/null | jq -r 'select(.path=="/etc/config.txt" and (.timestamp_desc | startswith("Deleted"))) | .container' | sort -u | paste -sd,)"
t_eq "timeline csv: the container is the last column" "container" \
	"$("$ANALYZE" timeline "$HB" --format csv 2>/dev/null | head -1 | awk -F, '{print $NF}')"
t_match "iocs --format json: an IOC of a path names its container" "^($na|$nb)\$" \
	"$("$ANALYZE" iocs "$HB" --image "oci:$T_TMP/ocidir" --format json 2>/dev/null | jq -r '.iocs[] | select(.type=="path" and .value=="/data/holder-upper") | .container')"
t_match "timeline bodyfile: a file dropped in A's /dev/shm, with its volume" \
	"^0\|\[$na\] /dev/shm/dropped-a \(volume /dev/shm tmpfs\)\|[0-9]+\|r/rrw-r--r--\|" "$(grep -F "[$na] /dev/shm/dropped-a" <<<"$BF")"
# the pod shares its IPC namespace: /dev/shm is the pod's, and each container lists what it sees there
t_eq "timeline jsonl: its times are volume events, of every container that sees the pod's /dev/shm" \
	"$(printf 'volume %s\n' "$na" "$nb" | sort | paste -sd,)" \
	"$("$ANALYZE" timeline "$HB" --format jsonl 2>/dev/null | jq -r 'select(.path=="/dev/shm/dropped-a") | "\(.source) \(.container)"' | sort -u | paste -sd,)"
t_ok "timeline bodyfile: mactime reads it" sh -c 'mactime -b "$0" -d >/dev/null' <(printf '%s\n' "$BF")
t_ok "podman save oci-dir of the 2-layer parent image" podman save --format oci-dir -o "$T_TMP/ocidir2" localhost/afterimage-test:2
"$ANALYZE" findings "$HB" --image "$na=oci:$T_TMP/ocidir" --image "$nb=oci:$T_TMP/ocidir2" >/dev/null 2>"$T_TMP/wrong.err"
t_match "a wrong image for B only: the warning names B" "warning: --image oci:.*ocidir2 is not the image container $nb ran" \
	"$(cat "$T_TMP/wrong.err")"
t_empty "and says nothing of A, whose image is right" "$(grep "container $na" "$T_TMP/wrong.err")"
t_eq "findings --image NAME=REF: a NAME the bundle does not have is a usage error" "2" \
	"$("$ANALYZE" findings "$HB" --image "nosuch=oci:$T_TMP/ocidir" >/dev/null 2>&1; echo $?)"
t_ok "report with an image per container" "$ANALYZE" report "$HB" --image "$na=oci:$T_TMP/ocidir" \
	--image "$nb=oci:$T_TMP/ocidir" -o "$T_TMP/pod.html" --quiet
R=$(cat "$T_TMP/pod.html")
t_eq "report: an attribution section per container" 2 "$(grep -c 'class="attr-container"' <<<"$R")"
t_match "report: the findings table has a container column" '<th>kind</th><th>container</th><th>pid</th>' "$R"
t_match "report: B's whiteout row names B" "data-kind=\"image-file-deleted\"[^>]*><td>[a-z]+</td><td>[^<]*</td><td>image-file-deleted</td><td>$nb</td>" "$R"
t_match "report: each container's image and its check in the summary" \
	"container <code>($na|$nb)</code> image <code>oci:[^<]*</code> \(3 layers, top <code>sha256:[0-9a-f]{64}</code>, image check: <b class=\"imgcheck\">match</b>\)" "$R"
PSB=$(pgrep -f 'sleep 100049' | head -1)
t_match "ps --pid: the exe's origin from its own container's attribution" 'image|layer' \
	"$("$ANALYZE" ps "$HB" --pid "$PSB" --image "$na=oci:$T_TMP/ocidir" --image "$nb=oci:$T_TMP/ocidir" 2>&1 | grep -i 'origin\|exe')"
# a bundle of format 1 (written as version 1 wrote it) still reads, without a container column
python3 - "$T_TMP/v1.tar" <<'PY'
import io, json, sys, tarfile
procs = {"processes": [{"pid": 7, "ppid": 1, "comm": "v1proc", "cmdline": ["v1proc", "--old"], "state": "S"}]}
man = {"format": "afterimage-bundle", "format_version": 1, "name": "v1", "complete": True,
       "target": {"pid": 7, "container_id": None}, "members": []}
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for name, doc in (("processes.json", procs), ("manifest.json", man)):
        b = (json.dumps(doc) + "\n").encode()
        ti = tarfile.TarInfo(name); ti.size = len(b); t.addfile(ti, io.BytesIO(b))
PY
v1=$("$ANALYZE" ps "$T_TMP/v1.tar" 2>&1)
t_match "format 1: ps reads it" 'v1proc --old' "$v1"
t_match "format 1: no container column" '^PID ' "$v1"

# --pid alone still selects one container
r=$("$CAPTURE" snapshot --pid "$PB" -k "$KEYS/k.key" -o "$OUT" -n single 2>>"$T_TMP/snap.err")
m=$(tar -xOf "$OUT/single.tar" manifest.json 2>/dev/null)
t_eq "--pid alone: one container, at the top level (format 1's layout)" "1 $IDB" \
	"$(jq -r '"\(.containers | length) \(.containers[0].container_id)"' <<<"$m")"
t_ok "--pid alone: processes.json at the top" sh -c "tar -tf '$OUT/single.tar' 2>/dev/null | grep -qx processes.json"
t_eq "--pid alone: frozen by default" true "$(jq -r .freeze.frozen <<<"$m")"
r=$("$CAPTURE" snapshot --pid "$PB" --no-freeze -k "$KEYS/k.key" -o "$OUT" -n live 2>>"$T_TMP/snap.err")
t_eq "--no-freeze: not frozen" false "$(tar -xOf "$OUT/live.tar" manifest.json 2>/dev/null | jq -r .freeze.frozen)"

# ---- from a sidecar in the pod: serve, auto target (two app containers: the whole pod)
if [[ $(ldd "$CAPTURE" 2>&1) != *"not a dynamic executable"* ]]; then
	t_skip "sidecar capture" "$CAPTURE is not static (sanitizer build): a FROM-scratch image cannot run it"
	exit 0
fi
SIDECAR_IMAGE=localhost/ai-c-sidecar49:test
SC=ai-C-pod49-sc-$$
ctr=$(buildah from scratch)
t_cleanup "buildah rm $ctr"
mnt=$(buildah mount "$ctr")
install -m 0755 "$CAPTURE" "$mnt/afterimage-capture"
buildah config --entrypoint '["/afterimage-capture"]' --cmd '' "$ctr"
buildah umount "$ctr" >/dev/null
t_ok "build the FROM-scratch sidecar image" buildah commit --quiet --rm "$ctr" "$SIDECAR_IMAGE"
t_cleanup "podman rmi -f $SIDECAR_IMAGE"
STORAGE=$(podman info --format '{{.Store.GraphRoot}}')/overlay
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
SOUT=$T_TMP/sout
mkdir -p "$SOUT"
PORT=18449
t_cleanup "podman rm -f -t 0 $SC"
t_ok "start the sidecar in the pod" podman run -d --pod "$POD" --name "$SC" \
	--cap-drop all --cap-add SYS_PTRACE,DAC_READ_SEARCH,FOWNER,KILL,SYS_ADMIN \
	--read-only --tmpfs /run/afterimage \
	-v "$KEYS:/keys:ro" -v "$SOUT:/out" -v "$STORAGE:$STORAGE:ro" -v /sys/fs/cgroup:/host/cgroup:rw \
	"$SIDECAR_IMAGE" serve --key /keys/k.key --token-file /keys/token -o /out \
	--listen "127.0.0.1:$PORT" --target auto --cgroup-root /host/cgroup --no-exit-trigger
pcurl() { nsenter -t "$PA" -n curl -sS -m 60 "$@"; }
for ((i = 0; i < 100; i++)); do
	pcurl "http://127.0.0.1:$PORT/healthz" 2>/dev/null | grep -q '"target":[1-9]' && break
	sleep 0.1
done
resp=$(pcurl -H "Authorization: Bearer $(cat "$KEYS/token")" "http://127.0.0.1:$PORT/v1/capture?reason=pod")
t_match "sidecar: the capture answered with a complete bundle" '"complete":true' "$resp"
SB=$(ls "$SOUT"/*.tar 2>/dev/null | head -1)
t_ok "sidecar: a bundle" test -f "$SB"
check_bundle sidecar "$SB" "$KEYS/k.pub"
t_empty "sidecar: its own container is not in the bundle" \
	"$(tar -xOf "$SB" manifest.json 2>/dev/null | jq -r --arg id "$(podman inspect -f '{{.Id}}' "$SC")" '.containers[] | select(.container_id == $id) | .index')"
t_eq "sidecar: without the runtime's state mounted, the manifest says identity is the Downward API env's" \
	"downward-api-env downward-api-env" "$(tar -xOf "$SB" manifest.json 2>/dev/null | jq -r '[.containers[].identity.source] | join(" ")')"
# from the host again, the sidecar running in the pod: it is left out (an afterimage-capture)
r=$("$CAPTURE" snapshot --pid "$PA" --pod --volumes none -k "$KEYS/k.key" -o "$OUT" -n with-sidecar 2>>"$T_TMP/snap.err")
t_eq "host, sidecar in the pod: still the two app containers" 2 \
	"$(tar -xOf "$OUT/with-sidecar.tar" manifest.json 2>/dev/null | jq -r '.containers | length')"
t_ok "sidecar: the pod runs on after the capture" podman exec "$A" true
