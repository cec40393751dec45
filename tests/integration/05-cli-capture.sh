#!/usr/bin/env bash
# afterimage-capture as a new user meets it: every command answers --help and -h with its own
# usage on stdout (exit 0), usage errors go to stderr (exit 2); serve creates its socket's missing
# directory and names --socket when it cannot. Hostile bytes never reach the terminal: from an
# operator's path or argument (escaped as \xHH by the one place that prints) and from a target
# (process names in serve's JSON log and replies, as \u00XX), with real processes in mount
# namespaces of their own as the target.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case I-08 'issue case 8 and the architecture issue: key and token files of mode 0644/0640, a FIFO as --key; hostile bytes in paths, options and process names; --help'

# ---- --help / -h
for cmd in keygen snapshot serve trigger version; do
	for h in --help -h; do
		rc=0
		"$CAPTURE" "$cmd" "$h" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
		t_eq "$cmd $h: exit 0" 0 "$rc"
		t_match "$cmd $h: its own usage on stdout" "^usage: afterimage-capture $cmd( |$)" "$(head -n 1 "$T_TMP/out")"
		t_empty "$cmd $h: nothing on stderr" "$(cat "$T_TMP/err")"
	done
done
for h in help --help -h; do
	rc=0
	"$CAPTURE" "$h" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
	t_eq "$h: the overall usage on stdout, exit 0, nothing on stderr" "0 usage: afterimage-capture COMMAND [OPTIONS] " \
		"$rc $(head -n 1 "$T_TMP/out") $(cat "$T_TMP/err")"
done
t_match "the overall usage lists every command" 'keygen .*snapshot .*serve .*trigger .*version ' \
	"$("$CAPTURE" help | tr '\n' ' ')"
rc=0
"$CAPTURE" serve --no-such-option >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
t_eq "an unknown option: exit 2" 2 "$rc"
t_empty "and nothing on stdout" "$(cat "$T_TMP/out")"
t_match "the message names it, then serve's usage, on stderr" \
	"^afterimage-capture: unrecognized option '--no-such-option' usage: afterimage-capture serve " \
	"$(tr '\n' ' ' <"$T_TMP/err")"
rc=0
"$CAPTURE" >"$T_TMP/out" 2>"$T_TMP/err" || rc=$?
t_eq "no command: exit 2, the usage on stderr only" "2 usage: afterimage-capture COMMAND [OPTIONS]" \
	"$rc$(cat "$T_TMP/out") $(head -n 1 "$T_TMP/err")"
rc=0
"$CAPTURE" frobnicate >/dev/null 2>"$T_TMP/err" || rc=$?
t_eq "an unknown command: exit 2" "2 afterimage-capture: unknown command" "$rc $(head -n 1 "$T_TMP/err")"
t_match "a snapshot option value is still an option value, not --help" "^afterimage-capture: snapshot needs" \
	"$("$CAPTURE" snapshot --name -h 2>&1 >/dev/null | head -n 1)"

KEYS=$T_TMP/keys
mkdir -p "$KEYS"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"

# ---- key and token files: owner-only regular files, as ssh wants them; a FIFO never blocks
cp "$KEYS/k.key" "$T_TMP/loose.key"
chmod 644 "$T_TMP/loose.key"
rc=0
"$CAPTURE" snapshot --pid $$ --key "$T_TMP/loose.key" -o "$T_TMP" >/dev/null 2>"$T_TMP/err" || rc=$?
t_eq "a 0644 key file: exit 1" 1 "$rc"
t_match "the message says the mode and the way out" "key file .*loose.key: mode 0644 .*chmod 600.*--allow-loose-secret-mode" \
	"$(cat "$T_TMP/err")"
mkfifo "$T_TMP/fifo.key"
rc=0
timeout 10 "$CAPTURE" snapshot --pid $$ --key "$T_TMP/fifo.key" -o "$T_TMP" --allow-loose-secret-mode >/dev/null \
	2>"$T_TMP/err" || rc=$?
t_eq "a FIFO as --key: refused at once (exit 1, no hang)" 1 "$rc"
t_match "the FIFO is named as not a regular file" "fifo.key: not a regular file" "$(cat "$T_TMP/err")"
cp "$KEYS/token" "$T_TMP/loose.token"
chmod 640 "$T_TMP/loose.token"
rc=0
timeout 10 "$CAPTURE" serve --key "$KEYS/k.key" --token-file "$T_TMP/loose.token" -o "$T_TMP" --listen 127.0.0.1:0 \
	--socket none --target-pid 4194304 --no-harden >/dev/null 2>"$T_TMP/err" || rc=$?
t_eq "a group-readable token file: serve exits 1" 1 "$rc"
t_match "the token's mode is named" "token file .*loose.token: mode 0640" "$(cat "$T_TMP/err")"

# ---- the socket's directory (under a short path: a socket's path has at most 107 bytes)
S=$(mktemp -d "${TMPDIR:-/tmp}/ai-cli.XXXXXX")
t_cleanup "rm -rf $(printf '%q' "$S")"
rc=0
"$CAPTURE" serve --key "$KEYS/k.key" -o "$S" --listen none --socket "$S/run/afterimage/trigger.sock" \
	--target-pid 4194304 --no-harden 2>"$T_TMP/err" || rc=$?
t_eq "parent of the socket's directory missing too: exit 1" 1 "$rc"
t_match "the message names --socket" "^afterimage-capture: --socket $S/run/afterimage/trigger.sock: .*--socket" \
	"$(grep '^afterimage-capture:' "$T_TMP/err")"
t_ok "and nothing was created" test ! -e "$S/run"
mkdir "$S/run"
"$CAPTURE" serve --key "$KEYS/k.key" -o "$S" --listen none --socket "$S/run/afterimage/trigger.sock" \
	--target-pid 4194304 --no-harden 2>"$T_TMP/sd.log" &
spid=$!
t_cleanup "kill -9 $spid"
t_wait_listening "$T_TMP/sd.log" "$spid" || t_bail "serve started with a missing socket directory" "$(cat "$T_TMP/sd.log")"
t_eq "the socket's missing directory is created, mode 0700" "700 directory" "$(stat -c '%a %F' "$S/run/afterimage")"
t_eq "and the socket is in it" socket "$(stat -c '%F' "$S/run/afterimage/trigger.sock")"
t_match "serve answers there" '"target":0,"captures":0' \
	"$("$CAPTURE" trigger --socket "$S/run/afterimage/trigger.sock" --status 2>&1)"
kill -TERM "$spid"
wait "$spid"
t_eq "serve exits 0 on SIGTERM" 0 "$?"
ln -s "$S/run" "$S/link"
rc=0
"$CAPTURE" serve --key "$KEYS/k.key" -o "$S" --listen none --socket "$S/link/new/trigger.sock" \
	--target-pid 4194304 --no-harden 2>/dev/null || rc=$?
t_eq "no directory is created through a symlink: exit 1" "1 absent" \
	"$rc $([[ -e $S/run/new ]] && echo created || echo absent)"

# ---- hostile bytes: ESC ] 0 ; PWNED BEL (sets the window title), CSI 2J (clears the screen)
EVIL=$'\e]0;PWNED\a\e[2J'
# raw_controls FILE: the C0 controls but newline and the C1 controls FILE holds, as hex
raw_controls() {
	od -An -tx1 -v "$1" | tr -d '\n' | grep -oE ' (0[0-9a-f]|1[0-9a-f]|7f|c2 [89][0-9a-f])' | grep -v ' 0a' | tr -d '\n'
}
rc=0
"$CAPTURE" snapshot --pid 1 --key "$KEYS/k.key" -o "$T_TMP/out$EVIL" 2>"$T_TMP/err" || rc=$?
t_eq "snapshot into a hostile output path that does not exist: exit 1" 1 "$rc"
t_empty "its message holds no raw control byte" "$(raw_controls "$T_TMP/err")"
t_match "its message shows the path escaped" 'output directory .*/out\\x1b\]0;PWNED\\x07\\x1b\[2J: No such file' \
	"$(cat "$T_TMP/err")"
rc=0
"$CAPTURE" serve "--$EVIL" 2>"$T_TMP/err" || rc=$?
t_eq "a hostile unknown option: exit 2" 2 "$rc"
t_empty "its message holds no raw control byte" "$(raw_controls "$T_TMP/err")"
t_match "its message shows the option escaped" "unrecognized option '--\\\\x1b\]0;PWNED\\\\x07" "$(cat "$T_TMP/err")"
rc=0
"$CAPTURE" serve --key "$KEYS/k.key" -o "$S" --listen none --socket "$S/x$EVIL/y/trigger.sock" \
	--target-pid 4194304 --no-harden 2>"$T_TMP/err" || rc=$?
t_eq "serve with a hostile --socket path it cannot use: exit 1" 1 "$rc"
t_empty "its messages hold no raw control byte" "$(raw_controls "$T_TMP/err")"
t_match "its message shows the path escaped" "--socket $S/x\\\\x1b\]0;PWNED\\\\x07\\\\x1b\[2J/y/trigger.sock" \
	"$(cat "$T_TMP/err")"

# The target names its processes: two processes, each in a mount namespace of its own (two
# candidate containers), run a copy of sleep whose name is hostile (and holds a C1 CSI, U+009B);
# serve refuses to choose and names them, in its log and in its HTTP answer.
NAME=$'\e]0;PWNED\a\xc2\x9b2J'
mkdir -p "$T_TMP/bin"
cp "$(command -v sleep)" "$T_TMP/bin/$NAME"
for i in 1 2; do
	unshare -m "$T_TMP/bin/$NAME" 600 &
	t_cleanup "kill -9 $!"
	for ((k = 0; k < 50; k++)); do
		[[ $(cat "/proc/$!/comm" 2>/dev/null) == "$NAME" ]] && break
		sleep 0.05
	done
	t_eq "hostile process $i runs in a mount namespace of its own, named as the target wants" "$NAME" \
		"$(cat "/proc/$!/comm" 2>/dev/null)"
done
PORT=$((20000 + ($$ + 11) % 20000))
"$CAPTURE" serve --key "$KEYS/k.key" --token-file "$KEYS/token" -o "$T_TMP" --listen "127.0.0.1:$PORT" \
	--socket none --no-harden --target-exe "$(basename "$T_TMP")/bin/" 2>"$T_TMP/serve.log" &
spid=$!
t_cleanup "kill -9 $spid"
t_wait_listening "$T_TMP/serve.log" "$spid" || t_bail "serve started" "$(cat "$T_TMP/serve.log")"
code=$(curl -s -m 10 -o "$T_TMP/reply" -w '%{http_code}' -H "Authorization: Bearer $(cat "$KEYS/token")" \
	"http://127.0.0.1:$PORT/v1/capture")
t_eq "the HTTP trigger cannot choose a target: 503" 503 "$code"
t_empty "the answer holds no raw control byte" "$(raw_controls "$T_TMP/reply")"
t_match "the answer names the candidates, escaped" '2 candidate containers: pid [0-9]+ \(\\u001b\]0;PWNED\\u0007\\u009b2J' \
	"$(cat "$T_TMP/reply")"
# a client's hostile request line: refused, and never echoed anywhere
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$EVIL" >&7
IFS= read -r -t 10 line <&7
exec 7>&-
t_eq "a hostile request line: 400" "HTTP/1.1 400 Bad Request" "${line%$'\r'}"
kill -TERM "$spid"
wait "$spid"
t_eq "serve exits 0 on SIGTERM" 0 "$?"
t_empty "serve's whole log holds no raw control byte" "$(raw_controls "$T_TMP/serve.log")"
t_match "its waiting event names the candidates, escaped" \
	'"event":"waiting","message":"2 candidate containers: pid [0-9]+ \(\\u001b\]0;PWNED\\u0007\\u009b2J' \
	"$(cat "$T_TMP/serve.log")"
t_eq "every line of the log is JSON" "$(wc -l <"$T_TMP/serve.log")" "$(jq -c . <"$T_TMP/serve.log" 2>/dev/null | wc -l)"
t_eq "and the name reads back exactly (jq)" "$NAME" \
	"$(jq -r 'select(.event=="waiting").message' <"$T_TMP/serve.log" | LC_ALL=C sed -n 's/.*pid [0-9]* (\([^,]*\),.*/\1/p' | head -n 1)"
t_case_end 'loose secrets refused naming the mode (explicit override), a FIFO refused at once; nothing raw reaches a terminal or an HTTP answer' "whole test: ${SECONDS} s"
