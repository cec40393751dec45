#!/usr/bin/env bash
# diff of two pod bundles: containers paired by name (else id) and diffed pair by pair. A podman pod
# (shared pid, net, ipc, uts) with two app containers A and B, captured from the host
# (snapshot --pid PID --pod); then in A an image file deleted, one modified, one added, and in B a
# file added and two processes started (one a listener in the pod's network namespace); captured
# again. Every row names its container, A's changes are never B's, the pod's socket is listed once
# with no container, --json carries "container" on every per-container row, and --image NAME=REF
# gives each container's file rows the layers of its own image. Then a third container joining the
# pod (new; the other way round vanished), the same container re-created under its name (paired by
# the name, not new), and a pod bundle against a --pid capture of one of its containers.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze

POD=ai-C-pod49d-$$
A=ai-C-pod49d-a-$$ B=ai-C-pod49d-b-$$ C=ai-C-pod49d-c-$$
KEYS=$T_TMP/keys OUT=$T_TMP/out
mkdir -p "$KEYS" "$OUT"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
t_cleanup "podman pod rm -f -t 0 $POD"
t_ok "create the pod (shared pid, net, ipc, uts)" podman pod create --name "$POD" --share pid,net,ipc,uts
t_target "$A" --pod "$POD" --tmpfs /scratch
PA=$T_TARGET_PID
podman exec "$A" sh -c 'echo keep >/scratch/keep; echo gone >/scratch/gone; echo AAAA >/scratch/same-size; echo m >/scratch/chmod-me'
t_target "$B" --pod "$POD"
IDA=$(podman inspect -f '{{.Id}}' "$A") IDB=$(podman inspect -f '{{.Id}}' "$B")
NA=${IDA:0:12} NB=${IDB:0:12} # podman records no name a bundle could carry: the views print the id's first 12

snap() { # NAME [snapshot args]: a pod capture from the host, its path on stdout
	local n=$1
	shift
	"$CAPTURE" snapshot --pid "$PA" --pod -k "$KEYS/k.key" -o "$OUT" -n "$n" "$@" >/dev/null 2>>"$T_TMP/snap.err"
	echo "$OUT/$n.tar"
}
wait_pgrep() { for ((i = 0; i < 50; i++)); do pgrep -f "$1" >/dev/null && return 0; sleep 0.1; done; return 1; }

B1=$(snap one)
t_eq "capture 1: two containers" 2 "$(tar -xOf "$B1" manifest.json 2>/dev/null | jq -r '.containers | length')"
podman exec "$A" sh -c 'rm /etc/passwd; echo more >>/etc/group; echo new-in-a >/data/new-in-a.txt'
podman exec "$A" sh -c 'rm /scratch/gone; echo BBBB >/scratch/same-size; chmod 0600 /scratch/chmod-me; printf "#!/bin/sh\n" >/scratch/dropped.sh'
podman exec "$B" sh -c 'echo new-in-b >/data/new-in-b.txt'
podman exec -d "$B" sleep 100492 >/dev/null
podman exec -d "$B" nc -ll -p 9492 -e /bin/cat >/dev/null
wait_pgrep 'sleep 100492'
for ((i = 0; i < 50; i++)); do podman exec "$B" sh -c 'netstat -tln | grep -q ":9492 "' && break; sleep 0.1; done
B2=$(snap two)

# row DESC ERE TEXT: one line of TEXT matches ERE
row() { t_match "$1" "$2" "$(grep -E -m1 -e "$2" <<<"$3")"; }
d=$("$ANALYZE" diff "$B1" "$B2" 2>&1)
t_eq "A's deletion: one row, deleted (whiteout), under A" "- file    deleted  $NA: /etc/passwd  (whiteout)" \
	"$(grep -F /etc/passwd <<<"$d")"
row "A's modification: a copy-up under A" "^~ file +modified +$NA: /etc/group +\(copy-up\)" "$d"
row "A's new file: added under A" "^\+ file +added +$NA: /data/new-in-a.txt$" "$d"
# ctof ERE TEXT: the container column of the rows whose key matches ERE, one a line
ctof() { grep -E -e "$1" <<<"$2" | awk '{print $4}' | paste -sd' '; }
t_eq "A's three changes: each once, all under A, none under B" "$NA: $NA: $NA:" \
	"$(ctof ' /(etc/passwd|etc/group|data/new-in-a.txt)( |$)' "$d")"
row "B's new file: added under B" "^\+ file +added +$NB: /data/new-in-b.txt$" "$d"
row "B's new process under B" "^\+ process new +$NB: .*: sleep 100492 +\(pid [0-9]+\)$" "$d"
t_eq "B's process: once, under B" "$NB:" "$(ctof 'sleep 100492' "$d")"
t_eq "the pod's new listener: once, with no container, its owner named" 1 \
	"$(grep -cE '^\+ socket +new +tcp6? LISTEN [^ ]*:9492 .*\(nc\[[0-9]+\]\)$' <<<"$d")"
# the volume that dies with the pod (A's tmpfs): no image under it, each change once, under A
row "A's tmpfs: a file deleted" "^- volume +deleted +$NA: /scratch/gone +\(volume /scratch tmpfs\)$" "$d"
row "A's tmpfs: a file added" "^\+ volume +added +$NA: /scratch/dropped.sh +\(volume /scratch tmpfs\)$" "$d"
row "A's tmpfs: same size, other content: modified by sha256" \
	"^~ volume +modified +$NA: /scratch/same-size +\(content, 5 -> 5 bytes \(same size\), sha256 [0-9a-f]{64} -> [0-9a-f]{64}.*; volume /scratch tmpfs\)$" "$d"
row "A's tmpfs: a chmod is metadata" "^~ volume +metadata +$NA: /scratch/chmod-me +\(mode 0644 -> 0600.*volume /scratch tmpfs\)$" "$d"
t_empty "A's tmpfs: an unchanged file is no row" "$(grep -F /scratch/keep <<<"$d")"
t_eq "A's tmpfs: its rows all under A" "$NA: $NA: $NA: $NA:" "$(ctof ' /scratch/' "$d")"
t_empty "the same containers in both: none new or vanished" "$(grep -E '^. container ' <<<"$d")"
t_match "a count" '^[0-9]+ differences$' "$(tail -1 <<<"$d")"

dj=$("$ANALYZE" diff "$B1" "$B2" --json 2>&1)
t_ok "--json parses" jq -e .changes <<<"$dj"
t_eq "--json: a volume row carries both versions" "volume $NA 5 5 true" \
	"$(jq -r '.changes[]|select(.key=="/scratch/same-size")|"\(.section) \(.container) \(.before.size) \(.after.size) \(.before.sha256 != .after.sha256)"' <<<"$dj")"
t_eq "--json: count equals the rows" "$(jq '.changes|length' <<<"$dj")" "$(jq .count <<<"$dj")"
t_eq "--json: every process and file row names its container, one of the pod's" true \
	"$(jq --arg a "$NA" --arg b "$NB" '[.changes[]|select(.section!="socket")|.container==$a or .container==$b]|all' <<<"$dj")"
t_eq "--json: the listener's socket names no container (the pod's network namespace), its process B" \
	"process $NB,socket -" \
	"$(jq -r '.changes[]|select(.key|test("9492"))|"\(.section) \(.container // "-")"' <<<"$dj" | sort | paste -sd,)"
t_eq "--json: which container each of the changes made here is in" \
	"$(printf '%s\n' "file $NA /data/new-in-a.txt added" "file $NA /etc/group modified" "file $NA /etc/passwd deleted" \
		"file $NB /data/new-in-b.txt added" "process $NB sleep new" "socket - 9492 new" | sort | paste -sd,)" \
	"$(jq -r '.changes[]|select(.key|test("passwd|/etc/group|new-in-|sleep 100492|:9492 "))|
		"\(.section) \(.container // "-") \(.key|capture("(?<k>/etc/passwd|/etc/group|/data/new-in-.\\.txt|sleep|9492)").k) \(.change)"' <<<"$dj" |
		sort | paste -sd,)"

# ---- --image NAME=REF: each container's file rows take the layers of its own image
t_ok "podman save oci-dir" podman save --format oci-dir -o "$T_TMP/ocidir" localhost/afterimage-test:3
IMG=oci:$T_TMP/ocidir
d1=$("$ANALYZE" diff "$B1" "$B2" --image "$NB=$IMG" --quiet 2>&1)
row "--image for B only: B's file is told against B's image" "^\+ file +added +$NB: /data/new-in-b.txt +\(not in the image\)$" "$d1"
row "--image for B only: A's rows name no layer (A has none)" "^- file +deleted +$NA: /etc/passwd +\(whiteout\)$" "$d1"
di=$("$ANALYZE" diff "$B1" "$B2" --image "$NA=$IMG" --image "$NB=$IMG" --quiet 2>&1)
row "--image per container: A's deleted file came from layer 2" "^- file +deleted +$NA: /etc/passwd +\(whiteout; layer 2\)$" "$di"
row "--image per container: A's copy-up names both hashes, layer 2" \
	"^~ file +modified +$NA: /etc/group +\(copy-up, sha256 [0-9a-f]{64} -> [0-9a-f]{64}; layer 2\)$" "$di"
row "--image per container: A's new file is not in the image" "^\+ file +added +$NA: /data/new-in-a.txt +\(not in the image\)$" "$di"
row "--image per container: B's too" "^\+ file +added +$NB: /data/new-in-b.txt +\(not in the image\)$" "$di"
dij=$("$ANALYZE" diff "$B1" "$B2" --image "$NA=$IMG" --image "$NB=$IMG" --json --quiet 2>&1)
t_eq "--image --json: the layer on A's row" "$NA deleted 2 null" \
	"$(jq -r '.changes[]|select(.key=="/etc/passwd")|"\(.container) \(.change) \(.layer) \(.after)"' <<<"$dij")"
t_eq "--image --json: one image check per container of B, each the image it ran" \
	"$(printf '%s match\n' "$NA" "$NB" | sort | paste -sd,)" \
	"$(jq -r '.image_checks[]|"\(.container) \(.image_check.verdict)"' <<<"$dij" | sort | paste -sd,)"
t_eq "--image --json: no single image_check for a pod" null "$(jq -c .image_check <<<"$dij")"

# ---- a container joining the pod: new; the other way round: vanished
t_target "$C" --pod "$POD" --annotation io.kubernetes.container.name=web
IDC=$(podman inspect -f '{{.Id}}' "$C")
B3=$(snap three)
t_eq "capture 3: three containers" 3 "$(tar -xOf "$B3" manifest.json 2>/dev/null | jq -r '.containers | length')"
dn=$("$ANALYZE" diff "$B2" "$B3" 2>&1)
t_eq "the joined container: new, by its name" "+ container new      web" "$(grep -E '^. container ' <<<"$dn")"
row "its processes: new under it" '^\+ process new +web: .*: sleep 100002 +\(pid [0-9]+\)$' "$dn"
row "its runtime file: added under it" '^\+ file +added +web: /data/written.txt$' "$dn"
row "its whiteout of an image file: deleted under it" '^- file +deleted +web: /hello.sh +\(whiteout\)$' "$dn"
t_eq "its files are its own, not A's nor B's" "web:" "$(ctof '^. file .* /data/written.txt$' "$dn")"
dv=$("$ANALYZE" diff "$B3" "$B2" 2>&1)
row "the other way round: vanished" '^- container vanished +web( |$)' "$dv"
row "its processes: vanished under it" '^- process vanished +web: .*: sleep 100002 +\(pid [0-9]+\)$' "$dv"
row "its runtime file: gone with it" '^- file +deleted +web: /data/written.txt +\(gone with its container\)$' "$dv"
row "its whiteout: gone with it (not the image's file back)" \
	'^- file +deleted +web: /hello.sh +\(gone with its container, a whiteout\)$' "$dv"
t_eq "every file row of it: deleted (none called added)" deleted \
	"$(grep -E '^. file .* web: ' <<<"$dv" | awk '{print $3}' | sort -u)"
dvj=$("$ANALYZE" diff "$B3" "$B2" --json 2>&1)
t_eq "--json: the container row" "container vanished web web" \
	"$(jq -r '.changes[]|select(.section=="container")|"\(.section) \(.change) \(.container) \(.key)"' <<<"$dvj")"

# ---- the same container re-created under its name (a restart): paired by the name, not new
podman rm -f -t 0 "$C" >/dev/null 2>&1
t_target "$C" --pod "$POD" --annotation io.kubernetes.container.name=web
t_ok "re-created: another id" test "$(podman inspect -f '{{.Id}}' "$C")" != "$IDC"
B4=$(snap four)
dr=$("$ANALYZE" diff "$B3" "$B4" 2>&1)
t_empty "re-created under its name: neither new nor vanished" "$(grep -E '^. container ' <<<"$dr")"
row "re-created: its file, made again, compared with the old one's (metadata: a new mtime)" \
	'^~ file +metadata +web: /data/written.txt +\(mtime ' "$dr"
t_empty "its processes (the same commands) are no change" "$(grep -E '^. process .*web: .*sleep 100002' <<<"$dr")"

# ---- a pod bundle against a --pid capture of one of its containers
"$CAPTURE" snapshot --pid "$(podman inspect -f '{{.State.Pid}}' "$B")" -k "$KEYS/k.key" -o "$OUT" -n single >/dev/null 2>>"$T_TMP/snap.err"
t_eq "--pid alone: one container, B" "1 $IDB" \
	"$(tar -xOf "$OUT/single.tar" manifest.json 2>/dev/null | jq -r '"\(.containers | length) \(.containers[0].container_id)"')"
ds=$("$ANALYZE" diff "$B2" "$OUT/single.tar" 2>&1)
t_eq "pod against one of its containers: the others vanished, B paired (by its id)" "- container vanished $NA" \
	"$(grep -E '^. container ' <<<"$ds")"
row "A's processes vanished with it" "^- process vanished +$NA: .*: sleep 100002 " "$ds"
t_empty "B's still running processes are no change" "$(grep -E "^. process .*$NB: .*sleep 10049" <<<"$ds")"
