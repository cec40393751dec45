#!/usr/bin/env bash
# serve's HTTP endpoint under abuse (robustness matrix S-01, S-02), a real serve on 127.0.0.1 in
# front of a real workload container: a flood of 1,000 requests a second for 5 s (healthz, wrong
# tokens, unknown paths, garbage; each on its own connection) after which a valid trigger still
# captures, serve holds no more descriptors than before and stays small; then 38 malformed heads
# (tests/fixtures/http-hostile.py), each answered with its status or a close, never a crash.
. "$(dirname "$0")/../lib.sh"
t_require_capture

KEYS=$T_TMP/keys
mkdir -p "$KEYS"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null || t_bail "keygen"
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
TOKEN=$(cat "$KEYS/token")
# a port nobody listens on now (other tests may run beside this one)
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
t_target "ai-sc-req-$$"
P=$T_TARGET_PID
OUT=$T_TMP/out
mkdir -p "$OUT"
"$CAPTURE" serve --key "$KEYS/k.key" --token-file "$KEYS/token" -o "$OUT" --listen "127.0.0.1:$PORT" \
	--socket "$T_TMP/trig.sock" --target-pid "$P" --http-timeout 2000 2>"$T_TMP/serve.log" &
SPID=$!
t_cleanup "kill -9 $SPID"
t_wait_listening "$T_TMP/serve.log" "$SPID" || t_bail "serve started" "$(cat "$T_TMP/serve.log")"
CLIENT=(python3 "$FIXTURES/http-hostile.py")
U=http://127.0.0.1:$PORT
kib() { sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB$/\1/p" "/proc/$SPID/status"; }
nfds() { ls "/proc/$SPID/fd" | wc -l; }
t_eq "healthz before: 200" 200 "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$U/healthz")"
fd0=$(nfds)
rss0=$(kib VmRSS)

# ---- S-01: 1,000 requests a second for 5 s
t_case S-01 "a flood of 1,000 requests/s for 5 s, then flat out for 3 s, from 8 client threads on 127.0.0.1, a new connection each: healthz, a wrong token, an unknown path, a TLS-looking garbage line"
r=$(timeout 60 "${CLIENT[@]}" flood "$PORT" "$TOKEN" 5 1000)
t_diag "flood: $r"
jqr() { jq -r "$1" <<<"$r" 2>&1; }
t_eq "every request sent was answered (no reset, refused or timed-out connection)" "{}" "$(jqr '.errors|tojson')"
t_eq "each kind got its status (or 503 past --max-conns), nothing else" 0 "$(jqr .unexpected)"
t_empty "healthz: 200 (503 allowed)" "$(jqr '.codes.healthz | del(.["200"], .["503"]) | keys | join(",")')"
t_empty "wrong token: 401" "$(jqr '.codes["bad-token"] | del(.["401"], .["503"]) | keys | join(",")')"
rate=$(jqr .rate)
t_ok "the client kept up: at least 800 requests/s answered (got ${rate}/s)" test "${rate:-0}" -ge 800
# then flat out for 3 s: as many as 8 client threads can send
rb=$(timeout 60 "${CLIENT[@]}" flood "$PORT" "$TOKEN" 3 50000)
t_diag "flat out: $rb"
t_eq "flat out: every request answered" "{}" "$(jq -r '.errors|tojson' <<<"$rb" 2>&1)"
t_eq "flat out: each kind got its status (or 503), nothing else" 0 "$(jq -r .unexpected <<<"$rb" 2>&1)"
t_ok "serve survived the flood" kill -0 "$SPID"
for ((i = 0; i < 50; i++)); do (($(nfds) <= fd0)) && break; sleep 0.1; done
fd1=$(nfds)
t_ok "serve holds no more descriptors than before ($fd0 -> $fd1)" test "$fd1" -le "$fd0"
rss1=$(kib VmRSS)
hwm=$(kib VmHWM)
t_ok "serve's RSS after the flood stays small (${rss1} kB < 8 MiB)" test "${rss1:-99999}" -lt 8192
t_empty "no bundle from the flood" "$(ls "$OUT")"
n401=$(($(jqr '.codes["bad-token"]["401"] // 0') + $(jq -r '.codes["bad-token"]["401"] // 0' <<<"$rb")))
nlines=$(grep -c '"event":"unauthorized"' "$T_TMP/serve.log")
nsupp=$(grep '"event":"unauthorized"' "$T_TMP/serve.log" | jq -s '[.[].suppressed // 0] | add // 0')
t_ok "wrong tokens are logged rate-limited: $nlines lines for $n401 refusals" test "$nlines" -ge 1 -a "$nlines" -le 5
t_ok "and every line so far accounts for the refusals before it ($nlines + $nsupp suppressed <= $n401)" \
	test $((nlines + nsupp)) -le "$n401"
res=$(curl -s -m 60 -H "Authorization: Bearer $TOKEN" "$U/v1/capture?reason=after-flood")
t_match "a valid trigger after the flood: a sealed bundle" '"bundle":"[^"]+\.tar","sha256":"[0-9a-f]{64}","complete":true' "$res"
t_ok "and it verifies (minisign)" minisign -Vm "$(ls "$OUT"/*.tar | head -1)" -p "$KEYS/k.pub" -q
t_case_end "every request answered with its status (503 only past --max-conns), no capture, descriptors back to $fd1, then a valid trigger captured at once" \
	"$(jqr .sent) requests in $(jqr .seconds) s = ${rate}/s, 503s: $(jqr '[.codes[]["503"] // 0] | add'); flat out $(jq -r .rate <<<"$rb")/s, 503s: $(jq -r '[.codes[]["503"] // 0] | add' <<<"$rb"); serve RSS ${rss0} -> ${rss1} kB (peak ${hwm} kB), fds ${fd0} -> ${fd1}"

# ---- S-02: malformed requests
t_case S-02 "38 malformed request heads: 100 KB head without end, 65 fields, unknown and lowercase methods, NUL, CTL and DEL bytes, bare CR and LF, Content-Length of 20 digits / 10^18 / -1 / twice, chunked, HTTP/0.9, 1.2, 1.10, absolute-form, 2 KiB target, fragment, duplicate Host and Authorization, obs-fold, a 7 KB token, the token in the query, a TLS ClientHello, half-closed and empty connections; and two pipelined requests"
rm -f "$OUT"/*
timeout 120 "${CLIENT[@]}" malformed "$PORT" "$TOKEN" >"$T_TMP/malformed.txt" 2>"$T_TMP/malformed.err"
t_eq "the malformed client ran to its end" 39 "$(wc -l <"$T_TMP/malformed.txt")"
ok=0
while read -r name want got; do
	t_eq "$name: $want" "$want" "$got"
	[[ $want == "$got" ]] && ok=$((ok + 1))
done <"$T_TMP/malformed.txt"
t_ok "serve is alive (same pid)" kill -0 "$SPID"
t_eq "healthz after: 200" 200 "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$U/healthz")"
t_empty "no bundle from any of them" "$(ls "$OUT")"
t_empty "no error event in serve's log" "$(grep '"event":"error"' "$T_TMP/serve.log")"
rss2=$(kib VmRSS)
t_case_end "each answered with the status its fault calls for (400, 401, 405, 413, 505) or closed when the client gave up; a pipelined second request not answered; never a crash" \
	"$ok/$(wc -l <"$T_TMP/malformed.txt") as expected; serve RSS after ${rss2} kB"
kill -TERM "$SPID"
wait "$SPID"
t_eq "serve exits 0 on SIGTERM (after having captured)" 0 "$?"
