#!/usr/bin/env bash
# serve against hostile neighbours, on real sockets on loopback:
#  - the trigger socket: a second serve on the same --socket is refused and the first keeps
#    answering; a regular file at the path is never unlinked; a stale socket is replaced; on exit
#    only the socket serve bound is removed (not a file put there since);
#  - pools: 200 reconnecting junk HTTP clients (slow heads, piecewise requests with a wrong token,
#    wrong tokens at once) while the exec trigger succeeds 5 of 5 and a valid token gets 200; the
#    clients turned away get a 503, not a reset; the socket's own pool answers 503 past its size;
#  - a client dribbling its head byte by byte gets 408 at --http-timeout after the accept;
#  - the wrong tokens are logged rate-limited, with a count of the rest.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case I-02 'issue cases 2 and 5: 200 reconnecting slow junk clients while the exec and HTTP triggers must work; a live, a stale and a non-socket --socket path'
command -v python3 >/dev/null || t_bail "python3 installed" "the junk clients are python3"

KEYS=$T_TMP/keys
mkdir -p "$KEYS"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
TOKEN=$(cat "$KEYS/token")
PORT=$((20000 + ($$ + 13) % 12000)) # below the ephemeral range the junk clients use
SOCK=$T_TMP/run/trig.sock

# serve_bg LOG ARGS...: serve in the background (pid in SPID); the caller waits for it.
SPID=
serve_bg() {
	local log=$1
	shift
	mkdir -p "$T_TMP/out"
	"$CAPTURE" serve --key "$KEYS/k.key" --token-file "$KEYS/token" -o "$T_TMP/out" "$@" 2>"$log" &
	SPID=$!
	t_cleanup "kill -9 $SPID"
}
status() { "$CAPTURE" trigger --socket "$1" --status 2>&1; }

# ---- the trigger socket belongs to one serve
serve_bg "$T_TMP/a.log" --listen none --socket "$SOCK" --target-pid 4000000 --no-exit-trigger
A=$SPID
t_wait_listening "$T_TMP/a.log" "$A" || t_bail "first serve started" "$(cat "$T_TMP/a.log")"
ino=$(stat -c %i "$SOCK")
timeout 10 "$CAPTURE" serve --key "$KEYS/k.key" -o "$T_TMP/out" --listen none --socket "$SOCK" --target-pid 4000000 2>"$T_TMP/b.log"
t_eq "a second serve on the same --socket exits 1" 1 "$?"
t_match "it says another serve listens there, naming the path" "--socket $SOCK: another serve is listening on it" "$(cat "$T_TMP/b.log")"
t_eq "the first serve's socket is the same inode" "$ino" "$(stat -c %i "$SOCK" 2>&1)"
t_match "the first serve still answers trigger --status" '"captures":0' "$(status "$SOCK")"
kill -TERM "$A"
wait "$A"
t_eq "the first serve exits 0" 0 "$?"
t_fail "on exit it removed its own socket" test -e "$SOCK"

printf 'precious\0bytes\n' >"$T_TMP/precious.txt"
cp "$T_TMP/precious.txt" "$T_TMP/precious.orig"
timeout 10 "$CAPTURE" serve --key "$KEYS/k.key" -o "$T_TMP/out" --listen none --socket "$T_TMP/precious.txt" --target-pid 4000000 2>"$T_TMP/c.log"
t_eq "a regular file at --socket: serve exits 1" 1 "$?"
t_match "it says the file is not a socket and left alone" "precious.txt: a file that is not a socket is there; it is left alone" "$(cat "$T_TMP/c.log")"
t_ok "the file is still there, byte-identical" cmp "$T_TMP/precious.txt" "$T_TMP/precious.orig"

# a stale socket: bound, then its process exited without removing it
python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$SOCK"
t_ok "a stale socket is at the path" test -S "$SOCK"
serve_bg "$T_TMP/d.log" --listen none --socket "$SOCK" --target-pid 4000000 --no-exit-trigger
D=$SPID
t_wait_listening "$T_TMP/d.log" "$D" || t_bail "serve over a stale socket started" "$(cat "$T_TMP/d.log")"
t_match "a stale socket is replaced: the new serve answers" '"captures":0' "$(status "$SOCK")"
# what is at the path when serve exits is not its socket any more: left alone
rm "$SOCK"
cp "$T_TMP/precious.orig" "$SOCK"
kill -TERM "$D"
wait "$D"
t_ok "on exit a file put at its socket's path is left alone" cmp "$SOCK" "$T_TMP/precious.orig"
rm -f "$SOCK"

# ---- pools under a flood
t_target "ai-sc-hostile-$$"
P=$T_TARGET_PID
cat >"$T_TMP/flood.py" <<'PY'
# flood.py HOST PORT CLIENTS SECONDS: CLIENTS junk clients reconnecting for SECONDS, in three
# kinds by i % 4: 0 sends a whole request with a wrong token at once; 1 and 2 send one with a wrong
# token in 6 pieces 200 ms apart and read only then, like a client library (a failed send is a
# reset for them); 3 sends a partial head and then a byte every 200 ms, never finishing, reading
# all along. Each outcome is counted (the status code, "reset", "eof", ...). One JSON line out.
import errno, json, selectors, socket, sys, time
host, port, n, dur = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
fam = socket.AF_INET6 if ':' in host else socket.AF_INET
REQ = b'GET /v1/capture HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong-token-0123456789\r\n\r\n'
sel = selectors.DefaultSelector()
counts = {}
def bump(k):
    counts[k] = counts.get(k, 0) + 1
class Client:
    def __init__(self, i):
        self.kind = i % 4
        self.sock = None
    def start(self):
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.connected = False
        self.t0 = time.monotonic()
        self.got = b''
        self.piece = 0
        self.registered = False
        bump('connects')
        if self.sock.connect_ex((host, port)) not in (0, errno.EINPROGRESS):
            self.finish('connect-error')
            return
        sel.register(self.sock, selectors.EVENT_WRITE, self)
        self.registered = True
    def finish(self, what):
        bump(what)
        bump('kind%d:%s' % (self.kind, what))
        if self.registered:
            sel.unregister(self.sock)
        self.sock.close()
        self.sock = None
    def classify(self):
        if self.got.startswith(b'HTTP/1.1 '):
            return self.got[9:12].decode()
        return 'garbage' if self.got else None
    def send(self, data):
        try:
            self.sock.send(data)
            return True
        except BlockingIOError:
            return True
        except (ConnectionResetError, BrokenPipeError):
            self.finish('reset')
            return False
    def on_event(self):
        if self.connected:
            self.read()
            return
        if self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.finish('connect-error')
            return
        self.connected = True
        self.next = time.monotonic() + 0.2
        if self.kind == 0:
            if self.send(REQ):
                sel.modify(self.sock, selectors.EVENT_READ, self)
        elif self.kind == 3:
            if self.send(b'GET /v1/capture HTTP/1.1\r\nHost: x\r\nX-Slow: '):
                sel.modify(self.sock, selectors.EVENT_READ, self)
        else:  # not read until the whole request is sent
            sel.unregister(self.sock)
            self.registered = False
            self.tick(time.monotonic() + 1)
    def read(self):
        try:
            d = self.sock.recv(4096)
        except BlockingIOError:
            return
        except (ConnectionResetError, BrokenPipeError):
            self.finish(self.classify() or 'reset')
            return
        self.got += d
        if not d or b'\r\n' in self.got:
            self.finish(self.classify() or 'eof')
    def tick(self, now):
        if not self.connected:
            if now - self.t0 > 3:
                self.finish('connect-timeout')
            return
        if now < self.next or self.kind == 0:
            return
        self.next = now + 0.2
        if self.kind == 3:
            self.send(b'a')
        elif self.piece < 6:
            k = len(REQ) // 6
            part = REQ[self.piece * k:] if self.piece == 5 else REQ[self.piece * k:(self.piece + 1) * k]
            self.piece += 1
            if self.send(part) and self.piece == 6:
                sel.register(self.sock, selectors.EVENT_READ, self)
                self.registered = True
clients = [Client(i) for i in range(n)]
end = time.monotonic() + dur
for c in clients:
    c.start()
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.05):
        if key.data.sock is not None:
            key.data.on_event()
    now = time.monotonic()
    for c in clients:
        if c.sock is not None:
            c.tick(now)
        if c.sock is None and now < end:
            c.start()
for c in clients:
    if c.sock is not None:
        c.finish('unfinished')
print(json.dumps(counts, sort_keys=True))
PY
serve_bg "$T_TMP/f.log" --target-pid "$P" --listen "127.0.0.1:$PORT" --socket "$SOCK" --http-timeout 2000 --no-exit-trigger
F=$SPID
t_wait_listening "$T_TMP/f.log" "$F" || t_bail "serve started" "$(cat "$T_TMP/f.log")"
python3 "$T_TMP/flood.py" 127.0.0.1 "$PORT" 200 8 >"$T_TMP/flood.json" 2>"$T_TMP/flood.err" &
FL=$!
t_cleanup "kill $FL"
sleep 1.5
ok=0
for i in 1 2 3 4 5; do
	r=$("$CAPTURE" trigger --socket "$SOCK" --reason "under-flood-$i" 2>&1) && [[ $r == *'"bundle":'* ]] && ok=$((ok + 1))
done
t_eq "under the flood the exec trigger succeeds 5 of 5" 5 "$ok"
code=$(curl -s -m 30 -o "$T_TMP/valid.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/capture?reason=valid")
t_eq "under the flood a valid token gets 200" 200 "$code"
t_match "and its bundle" '"bundle":"[^"]+-http\.tar"' "$(cat "$T_TMP/valid.json" 2>&1)"
wait "$FL"
counts=$(cat "$T_TMP/flood.json")
t_diag "junk clients saw: $counts"
read -r n503 reset eof n401 <<<"$(python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
print(c.get("503", 0), c.get("reset", 0), c.get("eof", 0), c.get("401", 0))' "$T_TMP/flood.json")"
over=$((n503 + reset + eof))
t_ok "the flood went over the limits (over 1000 clients turned away: $over)" test "$over" -gt 1000
t_ok "the piecewise clients (read only after sending) were turned away too" python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
sys.exit(0 if c.get("kind1:503", 0) + c.get("kind2:503", 0) >= 50 else 1)' "$T_TMP/flood.json"
t_ok "nearly all turned-away clients got the 503: $reset resets and $eof bare closes of $over" \
	test $((100 * (reset + eof))) -le "$over"
t_eq "healthz answers after the flood" 200 "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")"

# the socket's pool: 16 clients at a time, more get a 503 line at once (HTTP has no part in it)
t_ok "20 idle clients on the socket: the 4 past its pool get a 503, the 16 none" python3 - "$SOCK" <<'PY'
import socket, sys, time
conns = []
for _ in range(20):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    conns.append(s)
time.sleep(0.5)
busy = 0
for s in conns:
    s.setblocking(False)
    try:
        d = s.recv(200)
    except BlockingIOError:
        d = b''
    busy += b'"status":503' in d
print(busy)
sys.exit(0 if busy == 4 else 1)
PY
t_match "and once they are gone the socket answers" '"captures":' "$(status "$SOCK")"

# the head's deadline is counted from the accept, not renewed by each byte
got=$(python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
t0 = time.monotonic()
s.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ')
s.settimeout(0.1)
while time.monotonic() < t0 + 10:
    try:
        d = s.recv(100)
        print(d.split(b'\r\n')[0].decode(), int((time.monotonic() - t0) * 1000))
        break
    except socket.timeout:
        s.sendall(b'a')
PY
)
ms=${got##* }
t_eq "a client dribbling a byte every 100 ms gets 408" "HTTP/1.1 408 Request Timeout" "${got% *}"
t_ok "at --http-timeout 2000 after its connect ($ms ms)" test "$ms" -ge 1900 -a "$ms" -lt 3500

kill -TERM "$F"
wait "$F"
t_eq "serve exits 0 after the flood" 0 "$?"
lines=$(grep -c '"event":"unauthorized"' "$T_TMP/f.log")
logged=$(grep '"event":"unauthorized"' "$T_TMP/f.log" | python3 -c 'import json, sys
print(sum(1 + json.loads(l).get("suppressed", 0) - (0 if "message" in l else 1) for l in sys.stdin))')
t_ok "wrong tokens are logged rate-limited ($lines lines for $n401 answers 401)" test "$lines" -le 3 -a "$n401" -gt 100
t_ok "the lines count every one of them ($logged >= $n401)" test "$logged" -ge "$n401"
t_match "evictions are logged as busy, with counts" '"event":"busy","refused":[0-9]+,"evicted":[1-9]' "$(cat "$T_TMP/f.log")"
t_case_end 'triggers succeed under the flood, over-limit clients get a drained 503 (no reset), refusals logged rate-limited; serve never unlinks what it did not bind' "whole test: ${SECONDS} s"
