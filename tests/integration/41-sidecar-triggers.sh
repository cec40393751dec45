#!/usr/bin/env bash
# serve on the host against a real workload container: the HTTP endpoint's strictness (401, 400,
# 413, 408, 404), the exec trigger, 20 concurrent triggers coalesced into one capture, the
# hardening of the running process (Seccomp 2, reduced CapEff, execve refused), the SIGTERM
# trigger, the crash path (kill -9, no preStop: the exit trigger still captures the upperdir)
# and rediscovery of a restarted target.
. "$(dirname "$0")/../lib.sh"
t_require_capture

KEYS=$T_TMP/keys
mkdir -p "$KEYS"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
TOKEN=$(cat "$KEYS/token")
PORT=$((20000 + $$ % 20000))

t_target "ai-sc-trig-$$"
P=$T_TARGET_PID
CID=$(podman inspect -f '{{.Id}}' "$T_TARGET_NAME")

SPID=
# start_serve OUTDIR ARGS...: run serve in the background, wait for its "listening" event.
start_serve() {
	local out=$1
	shift
	mkdir -p "$out"
	"$CAPTURE" serve --key "$KEYS/k.key" --token-file "$KEYS/token" -o "$out" \
		--listen "127.0.0.1:$PORT" --socket "$T_TMP/trig.sock" "$@" 2>"$out.log" &
	SPID=$!
	t_cleanup "kill -9 $SPID"
	t_wait_listening "$out.log" "$SPID" || t_bail "serve started" "$(cat "$out.log")"
}
# raw REQUEST: send bytes over TCP, print the status code of the answer.
raw() {
	local line
	exec 7<>"/dev/tcp/127.0.0.1/$PORT" || return 1
	printf '%b' "$1" >&7
	IFS= read -r -t 10 line <&7
	exec 7>&-
	line=${line%$'\r'}
	echo "${line#HTTP/1.1 }" | cut -d' ' -f1
}
H="Authorization: Bearer $TOKEN"
U=http://127.0.0.1:$PORT

# ---- A: one long-running serve (each capture held frozen 700 ms so concurrent triggers overlap it)
OUT=$T_TMP/a
start_serve "$OUT" --target-pid "$P" --http-timeout 500 --debug-freeze-hold-ms 700
t_eq "healthz 200" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$U/healthz")"
t_eq "no token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$U/v1/capture")"
t_eq "wrong token: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer x$TOKEN" "$U/v1/capture")"
t_eq "token as Basic: 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Basic $TOKEN" "$U/v1/capture")"
t_eq "unknown path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$U/v1/other")"
t_eq "garbage request line: 400" 400 "$(raw 'GARBAGE\r\n\r\n')"
t_eq "bare LF: 400" 400 "$(raw 'GET /healthz HTTP/1.1\nHost: x\n\n')"
t_eq "space before colon: 400" 400 "$(raw 'GET /healthz HTTP/1.1\r\nHost : x\r\n\r\n')"
t_eq "HTTP/1.1 without Host: 400" 400 "$(raw 'GET /healthz HTTP/1.1\r\n\r\n')"
t_eq "HTTP/2.0: 505" 505 "$(raw 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n')"
t_eq "a body: 413" 413 "$(raw "POST /v1/capture HTTP/1.1\r\nHost: x\r\n$H\r\nContent-Length: 5\r\n\r\nhello")"
t_eq "9 KiB header: 413" 413 "$(raw "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: $(head -c 9000 /dev/zero | tr '\0' a)\r\n\r\n")"
t_eq "bad percent escape in reason: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' -H "$H" "$U/v1/capture?reason=%zz")"
t0=$EPOCHREALTIME
slow=$(raw 'GET /healthz HTTP/1.1\r\n')
ms=$(((${EPOCHREALTIME/./} - ${t0/./}) / 1000))
t_eq "slow client (head never finished): 408" 408 "$slow"
t_ok "slow client timed out after --http-timeout 500 ms, not before ($ms ms)" test "$ms" -ge 450 -a "$ms" -lt 3000
t_empty "no bundle for any refused request" "$(ls "$OUT")"

# hardening, read from the running process
st=$(cat "/proc/$SPID/status")
t_match "Seccomp: 2 (filter)" $'Seccomp:\t2' "$st"
t_match "NoNewPrivs: 1" $'NoNewPrivs:\t1' "$st"
t_match "CapEff is the documented five (dac_read_search fowner kill sys_ptrace sys_admin)" $'CapEff:\t000000000028002c' "$st"
t_match "CapBnd reduced to the same five" $'CapBnd:\t000000000028002c' "$st"
t_match "CapInh empty" $'CapInh:\t0000000000000000' "$st"
sb=$("$CAPTURE" trigger --socket "$T_TMP/trig.sock" --sandbox-check 2>&1)
t_match "execve in the running serve is refused with EPERM" '"execve_errno":1,"execve_refused":true,"seccomp":2' "$sb"

# exec trigger (works under the filter)
r=$("$CAPTURE" trigger --socket "$T_TMP/trig.sock" --reason "kubectl-exec" 2>&1)
t_match "exec trigger: bundle sealed" '"bundle":"[^"]+-exec\.tar","sha256":"[0-9a-f]{64}","complete":true' "$r"
B=$(ls "$OUT"/*-exec.tar 2>/dev/null | head -1)
t_ok "exec bundle verifies (minisign)" minisign -Vm "$B" -p "$KEYS/k.pub"
t_match "manifest: trigger exec, reason, frozen" '"trigger":"exec","reason":"kubectl-exec","freeze":\{"frozen":true' \
	"$(tar -xOf "$B" manifest.json 2>/dev/null)"

# 20 concurrent triggers -> one capture
before=$(ls "$OUT"/*.tar | wc -l)
curls=()
for i in $(seq 20); do
	curl -s -m 60 -H "$H" -o "$T_TMP/c$i.json" -w '%{http_code}\n' "$U/v1/capture?reason=burst" >"$T_TMP/c$i.code" &
	curls+=($!)
done
wait "${curls[@]}"
codes=$(cat "$T_TMP"/c*.code | sort | uniq -c | tr -s ' ')
t_eq "20 concurrent triggers all answered 200" " 20 200" "$codes"
t_eq "they got one and the same bundle" 1 "$(grep -ho '"bundle":"[^"]*"' "$T_TMP"/c*.json | sort -u | wc -l)"
t_eq "exactly one new bundle on disk" $((before + 1)) "$(ls "$OUT"/*.tar | wc -l)"
t_match "the answer says 20 triggers were coalesced" '"coalesced":20' "$(cat "$T_TMP/c1.json")"
t_match "the unix trigger sees the HTTP capture count" '"captures":2' \
	"$("$CAPTURE" trigger --socket "$T_TMP/trig.sock" --status 2>&1)"
kill -TERM "$SPID"
wait "$SPID"
t_eq "serve exits 0 on SIGTERM after having captured (no extra capture)" "0 $((before + 1))" "$? $(ls "$OUT"/*.tar | wc -l)"

# ---- B: SIGTERM with nothing captured yet: capture once, then exit
OUT=$T_TMP/b
start_serve "$OUT" --target-pid "$P" --listen none
kill -TERM "$SPID"
wait "$SPID"
rc=$?
t_eq "SIGTERM path: serve exits 0" 0 "$rc"
B=$(ls "$OUT"/*.tar 2>/dev/null | head -1)
t_match "SIGTERM path: one bundle, trigger sigterm" '"trigger":"sigterm"' "$(tar -xOf "$B" manifest.json 2>/dev/null)"
t_ok "SIGTERM bundle verifies" minisign -Vm "$B" -p "$KEYS/k.pub"

# ---- C: the crash path and rediscovery; the target found by its cgroup (survives a restart)
OUT=$T_TMP/c
start_serve "$OUT" --target-cgroup "$CID" --listen none
t_match "target found by --target-cgroup" "\"event\":\"target\",\"pid\":$P," "$(cat "$OUT.log")"
podman kill -s KILL "$T_TARGET_NAME" >/dev/null
for ((i = 0; i < 100; i++)); do
	grep -q '"event":"capture"' "$OUT.log" && break
	sleep 0.1
done
B=$(ls "$OUT"/*-exit.tar 2>/dev/null | head -1)
t_match "kill -9 of the target: an exit capture" '-exit\.tar$' "$B"
t_ok "exit bundle verifies" minisign -Vm "$B" -p "$KEYS/k.pub"
t_match "exit bundle: trigger exit" '"trigger":"exit"' "$(tar -xOf "$B" manifest.json 2>/dev/null)"
t_ok "exit bundle holds the upperdir (data/written.txt)" sh -c "tar -tf '$B' 2>/dev/null | grep -qx 'fs/upper/data/written.txt'"
mkdir -p "$T_TMP/x"
tar -xf "$B" -C "$T_TMP/x" fs/upper/data 2>/dev/null
t_eq "written.txt content survives in the bundle" evidence-upper "$(cat "$T_TMP/x/fs/upper/data/written.txt" 2>&1)"
podman start "$T_TARGET_NAME" >/dev/null
P2=$(podman inspect -f '{{.State.Pid}}' "$T_TARGET_NAME")
for ((i = 0; i < 100; i++)); do
	grep -q "\"event\":\"target\",\"pid\":$P2," "$OUT.log" && break
	sleep 0.1
done
t_match "the restarted target (new pid $P2) is found again" "\"event\":\"target\",\"pid\":$P2," "$(cat "$OUT.log")"
