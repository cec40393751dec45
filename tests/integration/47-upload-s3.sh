#!/usr/bin/env bash
# Upload to an object store that checks what S3 checks: presigned PUT URLs made by botocore
# (SigV4, a fixed fake key) on a non-default port, and a server on loopback that recomputes each
# request's SigV4 signature from its method, exact path and query and Host header (botocore's
# S3SigV4QueryAuth) and answers 403 on a mismatch. The bundle and its signature (--upload-sig,
# a presigned URL of its own) arrive under their two keys and verify with stock minisign, over
# IPv4 and over an IPv6 literal; without --upload-sig the signature's PUT is refused, as
# docs/sidecar.md says.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case I-10 'issue case 10: SigV4-presigned PUT URLs on a non-default port, IPv4 and [::1], checked by a server that recomputes SigV4 (botocore)'
PY=
for p in python3 /usr/bin/python3; do
	if "$p" -c 'import botocore.auth, botocore.session' 2>/dev/null; then
		PY=$p
		break
	fi
done
[[ -n $PY ]] || t_bail "python3 with botocore" "scripts/install-deps installs python3-botocore"

KEYS=$T_TMP/keys
mkdir -p "$KEYS" "$T_TMP/s3"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
t_target "ai-sc-s3-$$"
P=$T_TARGET_PID
PORT=$((9000 + $$ % 900 + 100)) # a non-default port, like MinIO's :9000 or Ceph's :7480

cat >"$T_TMP/presign.py" <<'PY'
# presign.py ENDPOINT KEY:EXPIRES...: a presigned put_object URL in bucket "evidence" for each
# key, one per line, made as a user makes them.
import sys, warnings
warnings.simplefilter('ignore')
import botocore.session
from botocore.config import Config
client = botocore.session.get_session().create_client(
    's3', region_name='us-east-1', endpoint_url=sys.argv[1],
    aws_access_key_id='AKIDAFTERIMAGETEST', aws_secret_access_key='afterimage-test-secret-key',
    config=Config(signature_version='s3v4', s3={'addressing_style': 'path'}))
for arg in sys.argv[2:]:
    key, expires = arg.rsplit(':', 1)
    print(client.generate_presigned_url('put_object', Params={'Bucket': 'evidence', 'Key': key},
                                        ExpiresIn=int(expires)))
PY
cat >"$T_TMP/s3check.py" <<'PY'
# s3check.py ADDR PORT ROOT LOG: PUT with a presigned URL; the signature is recomputed from what
# arrived (method, the exact path and query, the Host header); 403 unless it matches and is not
# expired; else the body is stored at ROOT/PATH. One line per request to LOG.
import calendar, hmac, http.server, os, socket, sys, time, urllib.parse, warnings
warnings.simplefilter('ignore')
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
addr, port, root, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
CREDS = Credentials('AKIDAFTERIMAGETEST', 'afterimage-test-secret-key')

def check(method, host, target):
    parts = urllib.parse.urlsplit(target)
    q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    given = dict(q)
    need = ('X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires',
            'X-Amz-SignedHeaders', 'X-Amz-Signature')
    if not host or any(k not in given for k in need):
        return 'AuthorizationQueryParametersError'
    expires = int(given['X-Amz-Expires'])
    signed = calendar.timegm(time.strptime(given['X-Amz-Date'], '%Y%m%dT%H%M%SZ'))
    if expires > 604800:
        return 'AuthorizationQueryParametersError (X-Amz-Expires over 7 days)'
    if time.time() > signed + expires:
        return 'AccessDenied (Request has expired)'
    rest = [(k, v) for k, v in q if not k.startswith('X-Amz-')]
    url = 'http://' + host + parts.path + ('?' + urllib.parse.urlencode(rest) if rest else '')
    req = AWSRequest(method=method, url=url, headers={'host': host})
    auth = S3SigV4QueryAuth(CREDS, 's3', 'us-east-1', expires=expires)
    req.context['timestamp'] = given['X-Amz-Date']
    auth._modify_request_before_signing(req)
    want = auth.signature(auth.string_to_sign(req, auth.canonical_request(req)), req)
    return None if hmac.compare_digest(want, given['X-Amz-Signature']) else 'SignatureDoesNotMatch'

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a):
        pass
    def do_PUT(self):
        n = int(self.headers.get('Content-Length', '0'))
        body = self.rfile.read(n)
        host = self.headers.get('Host', '')
        err = check('PUT', host, self.path)
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with open(log, 'a') as f:
            f.write('%s host=%s %s\n' % (path, host, err or 'stored'))
        if err:
            msg = ('<Error><Code>%s</Code></Error>' % err).encode()
            self.send_response(403)
            self.send_header('Content-Length', str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        dst = os.path.join(root, path.lstrip('/'))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, 'wb') as f:
            f.write(body)
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()

class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6 if ':' in addr else socket.AF_INET
S((addr, port), H).serve_forever()
PY

S3PID=
start_s3() { # ADDR
	"$PY" "$T_TMP/s3check.py" "$1" "$PORT" "$T_TMP/s3" "$T_TMP/s3.log" 2>"$T_TMP/s3.err" &
	S3PID=$!
	t_cleanup "kill $S3PID"
	local host=$1 i
	[[ $host == *:* ]] && host="[$host]"
	for ((i = 0; i < 100; i++)); do
		curl -s -o /dev/null -X PUT "http://$host:$PORT/ping" && return 0
		sleep 0.05
	done
	t_bail "the S3 checker started" "$(cat "$T_TMP/s3.err")"
}
presign() { "$PY" "$T_TMP/presign.py" "$@"; } # ENDPOINT KEY:EXPIRES...

run() { # OUTDIR ARGS...: serve, one exec trigger, SIGTERM; prints the trigger's answer
	local out=$1
	shift
	mkdir -p "$out"
	"$CAPTURE" serve --key "$KEYS/k.key" -o "$out" --listen none --socket "$T_TMP/s.sock" --target-pid "$P" \
		--no-freeze --upload-retries 0 "$@" 2>"$out.log" &
	local spid=$!
	t_wait_listening "$out.log" "$spid" || true # the trigger below then fails, visibly
	"$CAPTURE" trigger --socket "$T_TMP/s.sock" 2>&1
	kill -TERM "$spid"
	wait "$spid"
}

start_s3 127.0.0.1
E=http://127.0.0.1:$PORT
# 7 days (604800 s) is the longest SigV4 allows
mapfile -t U < <(presign "$E" probe/x.tar:3600 probe/y.tar:1 case-1/bundle.tar:604800 \
	case-1/bundle.tar.minisig:604800 case-2/bundle.tar:3600)
t_eq "botocore presigned 5 URLs" 5 "${#U[@]}"
# the checker refuses what S3 refuses
probe=${U[0]}
echo probe >"$T_TMP/probe"
t_eq "checker: the presigned URL as given is accepted" 200 \
	"$(curl -s -o /dev/null -w '%{http_code}' -T "$T_TMP/probe" "$probe")"
t_eq "checker: Host without the port is refused" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' -H "Host: 127.0.0.1" -T "$T_TMP/probe" "$probe")"
t_eq "checker: the same query on KEY.minisig is refused" 403 \
	"$(curl -s -o /dev/null -w '%{http_code}' -T "$T_TMP/probe" "${probe/x.tar?/x.tar.minisig?}")"
sleep 2
t_eq "checker: an expired URL is refused" 403 "$(curl -s -o /dev/null -w '%{http_code}' -T "$T_TMP/probe" "${U[1]}")"

# IPv4, a bundle URL and a signature URL of its own
r=$(run "$T_TMP/a" --upload "${U[2]}" --upload-sig "${U[3]}")
t_match "upload with --upload-sig to the S3 checker: ok" '"upload":"ok"' "$r"
name=$(basename "$(ls "$T_TMP"/a/*.tar 2>/dev/null | head -1)")
t_ok "the bundle arrived under its key, identical" cmp "$T_TMP/a/$name" "$T_TMP/s3/evidence/case-1/bundle.tar"
t_ok "its signature arrived under the other key, identical" cmp "$T_TMP/a/$name.minisig" "$T_TMP/s3/evidence/case-1/bundle.tar.minisig"
t_ok "the uploaded bundle verifies with stock minisign and the uploaded signature" \
	minisign -Vm "$T_TMP/s3/evidence/case-1/bundle.tar" -x "$T_TMP/s3/evidence/case-1/bundle.tar.minisig" -p "$KEYS/k.pub"
t_match "the Host header had the port" "^/evidence/case-1/bundle.tar host=127.0.0.1:$PORT stored" \
	"$(grep '^/evidence/case-1/bundle.tar ' "$T_TMP/s3.log")"

# without --upload-sig: the signature goes to the bundle's path + .minisig with its query: refused
r=$(run "$T_TMP/b" --upload "${U[4]}")
t_match "no --upload-sig with a presigned URL: the signature's PUT is refused (403)" \
	'"upload_error":"upload of the signature to 127.0.0.1:[0-9]+: [^"]*PUT /evidence/case-2/bundle.tar.minisig\?\.\.\.: HTTP 403' "$r"
t_empty "the error quotes no part of the URL's query (a presigned URL is a credential)" \
	"$(grep -ho 'X-Amz-[A-Za-z]*' "$T_TMP/b.log" <<<"$r"; grep -o 'X-Amz-[A-Za-z]*' <<<"$r")"
t_ok "the bundle itself arrived" test -s "$T_TMP/s3/evidence/case-2/bundle.tar"
t_eq "and both copies are kept locally" 2 "$(ls "$T_TMP/b" | wc -l)"

# IPv6 literal: Host is [::1]:PORT
kill "$S3PID"
wait "$S3PID" 2>/dev/null
if ! "$PY" -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null; then
	t_skip "IPv6 upload" "no ::1 on this machine"
else
	start_s3 ::1
	E6="http://[::1]:$PORT"
	mapfile -t U < <(presign "$E6" case-6/bundle.tar:3600 case-6/bundle.tar.minisig:3600)
	r=$(run "$T_TMP/c" --upload "${U[0]}" --upload-sig "${U[1]}")
	t_match "upload to an IPv6 literal with --upload-sig: ok" '"upload":"ok"' "$r"
	t_ok "it verifies with stock minisign" \
		minisign -Vm "$T_TMP/s3/evidence/case-6/bundle.tar" -x "$T_TMP/s3/evidence/case-6/bundle.tar.minisig" -p "$KEYS/k.pub"
	t_match "the Host header was [::1]:$PORT" "^/evidence/case-6/bundle.tar host=\[::1\]:$PORT stored" \
		"$(grep '^/evidence/case-6/bundle.tar ' "$T_TMP/s3.log")"
fi
t_case_end 'Host with its port (IPv6 in brackets), the signature through --upload-sig; both keys accepted, stock minisign verifies; without --upload-sig the store refuses (403)' "whole test: ${SECONDS} s"
