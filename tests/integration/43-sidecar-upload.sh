#!/usr/bin/env bash
# Upload: serve PUTs the sealed bundle and its .minisig to a real nginx (dav module) on loopback,
# plain HTTP and HTTPS with a CA made here; the uploaded copy verifies; a wrong CA fails the
# upload and keeps the local copy; --delete-after-upload removes it after success.
. "$(dirname "$0")/../lib.sh"
t_require_capture
command -v nginx >/dev/null || t_bail "nginx installed" "scripts/install-deps installs nginx-light"

KEYS=$T_TMP/keys
mkdir -p "$KEYS" "$T_TMP/www/up" "$T_TMP/ngx"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
t_target "ai-sc-up-$$"
P=$T_TARGET_PID
HP=$((21000 + $$ % 10000)) SP=$((31000 + $$ % 10000))

# a CA, and a server certificate for 127.0.0.1 signed by it; a second CA that signed nothing
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=test-ca \
	-keyout "$T_TMP/ca.key" -out "$T_TMP/ca.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=other-ca \
	-keyout "$T_TMP/other.key" -out "$T_TMP/other.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
	-keyout "$T_TMP/srv.key" -out "$T_TMP/srv.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$T_TMP/ext"
openssl x509 -req -in "$T_TMP/srv.csr" -CA "$T_TMP/ca.pem" -CAkey "$T_TMP/ca.key" -CAcreateserial -days 2 \
	-extfile "$T_TMP/ext" -out "$T_TMP/srv.pem" 2>/dev/null
t_ok "server certificate made by the test CA" openssl verify -CAfile "$T_TMP/ca.pem" "$T_TMP/srv.pem"

cat >"$T_TMP/ngx/nginx.conf" <<NGX
daemon off;
user root;
pid $T_TMP/ngx/nginx.pid;
error_log $T_TMP/ngx/error.log;
events {}
http {
	access_log $T_TMP/ngx/access.log;
	client_body_temp_path $T_TMP/ngx/body;
	client_max_body_size 0;
	server {
		listen 127.0.0.1:$HP;
		listen 127.0.0.1:$SP ssl;
		ssl_certificate $T_TMP/srv.pem;
		ssl_certificate_key $T_TMP/srv.key;
		root $T_TMP/www;
		location /up/ { dav_methods PUT; create_full_put_path on; }
	}
}
NGX
nginx -c "$T_TMP/ngx/nginx.conf" -e "$T_TMP/ngx/error.log" &
NPID=$!
t_cleanup "kill $NPID"
for ((i = 0; i < 100; i++)); do curl -s -o /dev/null "http://127.0.0.1:$HP/" && break; sleep 0.05; done

run() { # OUTDIR ARGS...: serve, one exec trigger, SIGTERM; prints the trigger's answer
	local out=$1
	shift
	mkdir -p "$out"
	"$CAPTURE" serve --key "$KEYS/k.key" -o "$out" --listen none --socket "$T_TMP/s.sock" --target-pid "$P" \
		--no-freeze "$@" 2>"$out.log" &
	local spid=$!
	t_wait_listening "$out.log" "$spid" || true # the trigger below then fails, visibly
	"$CAPTURE" trigger --socket "$T_TMP/s.sock" 2>&1
	kill -TERM "$spid"
	wait "$spid"
}

r=$(run "$T_TMP/a" --upload "http://127.0.0.1:$HP/up/plain/")
t_match "plain HTTP upload ok" '"upload":"ok"' "$r"
name=$(basename "$(ls "$T_TMP"/a/*.tar | head -1)")
t_ok "uploaded bundle identical to the local one" cmp "$T_TMP/a/$name" "$T_TMP/www/up/plain/$name"
t_ok "uploaded bundle verifies with its uploaded .minisig" minisign -Vm "$T_TMP/www/up/plain/$name" -p "$KEYS/k.pub"

r=$(run "$T_TMP/b" --upload "https://127.0.0.1:$SP/up/tls/" --ca-file "$T_TMP/ca.pem" --delete-after-upload)
t_match "HTTPS upload ok (CA from the test)" '"upload":"ok"' "$r"
name=$(grep -o '"bundle":"[^"]*"' <<<"$r" | cut -d'"' -f4)
name=${name##*/}
t_ok "TLS-uploaded bundle verifies" minisign -Vm "$T_TMP/www/up/tls/$name" -p "$KEYS/k.pub"
t_empty "--delete-after-upload removed the local copy" "$(ls "$T_TMP/b")"

r=$(run "$T_TMP/c" --upload "https://127.0.0.1:$SP/up/bad/" --ca-file "$T_TMP/other.pem" --upload-retries 1)
t_match "wrong CA: upload fails on verification" '"upload_error":"[^"]*certificate' "$r"
t_empty "wrong CA: nothing reached the server" "$(ls "$T_TMP/www/up/bad" 2>/dev/null)"
t_eq "wrong CA: the local copy is kept" 2 "$(ls "$T_TMP/c" | wc -l)"
