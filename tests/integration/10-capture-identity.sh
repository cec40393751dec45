#!/usr/bin/env bash
# The image a container runs, recorded by the capture and checked by the analyzer. A podman
# container of localhost/afterimage-test:3 (built FROM :2) captured from the host: the manifest
# records the image id podman has for it (containers/storage's container list), not the base image
# its runtime spec's org.opencontainers.image.base.* annotations name; the list itself (the host's
# other containers) is not in the bundle. The analyzer's image check says id_match true with :3
# and false with :2, naming both ids. Then a pod of a :3 container and a :2 container: each
# container's record is its own, and each is checked against its own image with its own evidence.
# Last, lists under a host root of our own: over the size cap, hostile (the id inside other
# strings, escaped quotes, the entry in the volatile list), a FIFO.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze
A=$ANALYZE

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
ID3=$(podman image inspect -f '{{.Id}}' localhost/afterimage-test:3)
ID2=$(podman image inspect -f '{{.Id}}' localhost/afterimage-test:2)
t_target "ai-ident-$$"
P=$T_TARGET_PID
N=$T_TARGET_NAME
IMGID=$(podman inspect -f '{{.Image}}' "$N")
t_eq "podman: the container runs :3" "$ID3" "$IMGID"
# another container of the host: its entry is in the same list, and must not be in the bundle
OTHER=$(podman create --name "ai-ident-other-$$" localhost/afterimage-test:2 sleep 1)
t_cleanup "podman rm -f -t 0 ai-ident-other-$$"
OUT=$T_TMP/out
mkdir -p "$OUT"
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
t_ok "snapshot" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name id
B=$OUT/id.tar
M=$(tar -xOf "$B" manifest.json 2>/dev/null)
t_eq "identity.image_id is podman's image id of the container" "$IMGID" \
	"$(jq -r '.containers[0].identity.image_id' <<<"$M")"
t_eq "target.image_id too (container 0)" "$IMGID" "$(jq -r '.target.image_id' <<<"$M")"
t_eq "identity.image_name from the list's metadata" localhost/afterimage-test:3 \
	"$(jq -r '.containers[0].identity.image_name' <<<"$M")"
t_eq "where it came from: containers/storage's container list" \
	"containers-storage /var/lib/containers/storage/overlay-containers/containers.json" \
	"$(jq -r '.containers[0].identity | "\(.image_source) \(.image_from)"' <<<"$M")"
# the trap: the runtime spec's base.* annotations name :2, the image :3 was built FROM
t_eq "the stored spec names the base image :2 (base.name)" localhost/afterimage-test:2 \
	"$(tar -xOf "$B" config.json 2>/dev/null | jq -r '.annotations["org.opencontainers.image.base.name"]')"
t_match "identity.image_id is not the base image's" '^[0-9a-f]{64}$' \
	"$(jq -r '.containers[0].identity.image_id' <<<"$M" | grep -v "^$ID2\$")"
t_empty "no member is the container list" "$(tar -tf "$B" 2>/dev/null | grep containers.json)"
t_eq "the host's other container is nowhere in the bundle" 0 "$(grep -c -a -- "$OTHER" "$B")"

# ---- the analyzer: --image :3 is the image the container ran, :2 is not
podman save --format oci-dir -o "$T_TMP/oci3" localhost/afterimage-test:3 >/dev/null 2>&1
podman save --format oci-dir -o "$T_TMP/oci2" localhost/afterimage-test:2 >/dev/null 2>&1
ck() { "$A" layers "$1" --image "$2" --json --quiet 2>"$T_TMP/ck.err" | jq -c "$3"; }
t_eq "--image :3: id_match true, the recorded id is the container's, verdict match" \
	"[true,\"$IMGID\",\"match\"]" \
	"$(ck "$B" "oci:$T_TMP/oci3" '[.image_check.id_match,.image_check.recorded_image_id,.image_check.verdict]')"
t_empty "--image :3: nothing on stderr" "$(cat "$T_TMP/ck.err")"
t_eq "--image :2: id_match false, mismatch" '[false,"mismatch"]' \
	"$(ck "$B" "oci:$T_TMP/oci2" '[.image_check.id_match,.image_check.verdict]')"
t_match "--image :2: a warning on stderr naming both ids" \
	"^warning: --image oci:.*/oci2 is not the image the container ran: the container ran image $IMGID; the image is config sha256:$ID2, manifest sha256:[0-9a-f]{64}" \
	"$(cat "$T_TMP/ck.err")"

# ---- a pod: container A of :3, container B of :2, each checked with its own evidence
POD=ai-ident-pod-$$
t_cleanup "podman pod rm -f -t 0 $POD"
t_ok "create the pod" podman pod create --name "$POD" --share pid,net,ipc,uts
t_target "ai-ident-a-$$" --pod "$POD"
PA=$T_TARGET_PID
CB=ai-ident-b-$$
t_cleanup "podman rm -f -t 0 $CB"
t_ok "start B of :2" podman run -d --pod "$POD" --name "$CB" localhost/afterimage-test:2 sleep 100010
for ((i = 0; i < 50; i++)); do podman exec "$CB" true 2>/dev/null && break; sleep 0.1; done
IDA=$(podman inspect -f '{{.Id}}' "ai-ident-a-$$") IDB=$(podman inspect -f '{{.Id}}' "$CB")
r=$("$CAPTURE" snapshot --pid "$PA" --pod -k "$T_TMP/k.key" -o "$OUT" --name pod 2>"$T_TMP/snap.err")
t_eq "pod: snapshot --pod exits 0" 0 "$?"
PB_=$OUT/pod.tar
PM=$(tar -xOf "$PB_" manifest.json 2>/dev/null)
ia=$(jq -r --arg id "$IDA" '.containers[] | select(.container_id == $id) | .index' <<<"$PM")
ib=$(jq -r --arg id "$IDB" '.containers[] | select(.container_id == $id) | .index' <<<"$PM")
t_eq "pod: each container's image id is its own (A :3, B :2)" "$ID3 $ID2" \
	"$(jq -r --argjson a "$ia" --argjson b "$ib" '"\(.containers[$a].identity.image_id) \(.containers[$b].identity.image_id)"' <<<"$PM")"
t_eq "pod: B's image name" localhost/afterimage-test:2 \
	"$(jq -r --argjson b "$ib" '.containers[$b].identity.image_name' <<<"$PM")"
# layers --json prints one object per container with an image, in index order
pck() { # IMAGE-OF-A IMAGE-OF-B JQ-ON-[A,B]
	"$A" layers "$PB_" --image "${IDA:0:12}=$1" --image "${IDB:0:12}=$2" --json --quiet 2>"$T_TMP/pck.err" |
		jq -sc --argjson a "$ia" --argjson b "$ib" "[.[\$a], .[\$b]] | $3"
}
t_eq "pod: A with :3 and B with :2: both ids match, both verdicts match" '[[true,"match"],[true,"match"]]' \
	"$(pck "oci:$T_TMP/oci3" "oci:$T_TMP/oci2" 'map([.image_check.id_match,.image_check.verdict])')"
t_eq "pod: B's check counts B's 2 lowerdirs, not A's 3" '[3,2]' \
	"$(pck "oci:$T_TMP/oci3" "oci:$T_TMP/oci2" 'map(.image_check.lowerdirs)')"
t_eq "pod: B's recorded id is B's" "[\"$ID3\",\"$ID2\"]" \
	"$(pck "oci:$T_TMP/oci3" "oci:$T_TMP/oci2" 'map(.image_check.recorded_image_id)')"
t_empty "pod: nothing on stderr" "$(cat "$T_TMP/pck.err")"
t_eq "pod: B with :3: B mismatches on its id, A still matches" '[[true,"match"],[false,"mismatch"]]' \
	"$(pck "oci:$T_TMP/oci3" "oci:$T_TMP/oci3" 'map([.image_check.id_match,.image_check.verdict])')"
t_match "pod: the warning names container B and both ids" \
	"warning: --image oci:.*/oci3 is not the image container ${IDB:0:12} ran: the container ran image $ID2; the image is config sha256:$ID3" \
	"$(cat "$T_TMP/pck.err")"
t_empty "pod: no warning about A" "$(grep "container ${IDA:0:12}" "$T_TMP/pck.err")"
# B runs only busybox (sleep); A runs holder and workload: B's check reads B's processes only
t_eq "pod: B's executables checked are B's only" '[false,true]' \
	"$(pck "oci:$T_TMP/oci3" "oci:$T_TMP/oci2" 'map(.image_check.exe_checked == 1)')"

# ---- the container list under a host root of our own: cut, hostile, a FIFO (the upperdir is not
# there: a partial bundle, exit 3, with its manifest)
HR=$T_TMP/hostroot
SD=$HR/var/lib/containers/storage/overlay-containers
mkdir -p "$SD"
snap_hr() { # NAME: the manifest's identity of container 0, and the log's identity events
	"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name "$1" --host-root "$HR" >/dev/null 2>&1
	echo "rc=$?"
	tar -xOf "$OUT/$1.tar" manifest.json 2>/dev/null | jq -c '.containers[0].identity | [.image_id, .image_from, .image_note]'
	tar -xOf "$OUT/$1.tar" capture-log.json 2>/dev/null |
		jq -c '[.events[] | select(.collector == "identity" and .level != "info") | [.level, .path, .message]]'
}
truncate -s 40M "$SD/containers.json"
o=$(snap_hr hr-big)
t_match "a 40 MiB list: not read, the note says why" \
	'^rc=3
\[null,null,"the container list is larger than the capture reads \(32 MiB\)"\]' "$o"
t_match "... and the log has a truncated event naming it" \
	'\["truncated","/var/lib/containers/storage/overlay-containers/containers.json","container list larger than 33554432 bytes' "$o"
# the id only inside other strings and a nested object of the stable list; the real entry in the
# volatile one (podman run --rm)
CIDN=$(podman inspect -f '{{.Id}}' "$N")
printf '[{"id":"x","names":["%s"],"image":"%s","metadata":"{\\"id\\":\\"%s\\"}","flags":{"id":"%s"}},{"id":"a\\"b\\"","names":["\\"id\\":\\"%s\\""]}]' \
	"$CIDN" "$ID2" "$CIDN" "$CIDN" "$CIDN" >"$SD/containers.json"
printf '[{"id":"%s","image":"%s","metadata":"{\\"image-name\\":\\"v\\\\u0026w\\"}"}]' "$CIDN" "$ID3" \
	>"$SD/volatile-containers.json"
o=$(snap_hr hr-hostile)
t_match "the id inside other strings is not the entry: the volatile list's is" \
	"^rc=3
\[\"$ID3\",\"/var/lib/containers/storage/overlay-containers/volatile-containers.json\",null\]" "$o"
t_eq "... its escaped name unescaped" 'v&w' "$(tar -xOf "$OUT/hr-hostile.tar" manifest.json 2>/dev/null | jq -r '.containers[0].identity.image_name')"
rm -f "$SD/containers.json" "$SD/volatile-containers.json"
mkfifo "$SD/containers.json"
o=$(timeout 60 bash -c "$(declare -f snap_hr); CAPTURE='$CAPTURE' T_TMP='$T_TMP' OUT='$OUT' P='$P' HR='$HR' snap_hr hr-fifo")
t_match "a FIFO for the list: not opened (no hang), no list" \
	'^rc=3
\[null,null,"no containers/storage container list under the host root"\]' "$o"
