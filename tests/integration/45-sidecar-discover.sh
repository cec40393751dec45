#!/usr/bin/env bash
# Target discovery with two containers in view: --target auto refuses to guess and names the
# candidates (never a kernel thread); --target-exe and --target-cgroup pick the right one (checked
# through /healthz and the bundle's manifest).
. "$(dirname "$0")/../lib.sh"
t_require_capture

KEYS=$T_TMP/keys
mkdir -p "$KEYS"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
head -c 32 /dev/urandom | base64 | tr -d '/+=' >"$KEYS/token"
chmod 600 "$KEYS/token"
TOKEN=$(cat "$KEYS/token")
PORT=$((20000 + ($$ + 7) % 20000))

t_target "ai-disc-a-$$"
A=$T_TARGET_PID
B_NAME=ai-disc-b-$$
t_cleanup "podman rm -f -t 0 $B_NAME"
# B runs a binary of its own, so --target-exe can tell it from every other container
podman run -d --name "$B_NAME" localhost/afterimage-test:1 \
	sh -c "mkdir /tmp/u$$ && cp /bin/busybox /tmp/u$$/sleep && exec /tmp/u$$/sleep 100000" >/dev/null
for ((i = 0; i < 50; i++)); do
	B=$(podman inspect -f '{{.State.Pid}}' "$B_NAME")
	[[ $(readlink "/proc/$B/exe" 2>/dev/null) == "/tmp/u$$/sleep" ]] && break
	sleep 0.1
done
A_ID=$(podman inspect -f '{{.Id}}' "$T_TARGET_NAME")
t_match "second container runs" '^[0-9]+$' "$B"

SPID=
start_serve() {
	local out=$1
	shift
	mkdir -p "$out"
	"$CAPTURE" serve --key "$KEYS/k.key" --token-file "$KEYS/token" -o "$out" --no-exit-trigger \
		--listen "127.0.0.1:$PORT" --socket none "$@" 2>"$out.log" &
	SPID=$!
	t_cleanup "kill -9 $SPID"
	t_wait_listening "$out.log" "$SPID" || t_bail "serve started" "$(cat "$out.log")"
}
stop_serve() {
	kill -TERM "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
}
# target pid as /healthz reports it, waiting for discovery to settle
healthz_target() {
	local t=
	for ((i = 0; i < 50; i++)); do
		t=$(curl -s "http://127.0.0.1:$PORT/healthz" | jq -r '.target // empty' 2>/dev/null)
		[[ -n $t && $t != null ]] && break
		sleep 0.1
	done
	echo "$t"
}

# auto: at least two candidates (other containers on this machine may add more)
start_serve "$T_TMP/auto" --target auto
sleep 0.5
t_eq "auto with two containers: no target chosen (healthz target 0)" 0 "$(curl -s "http://127.0.0.1:$PORT/healthz" | jq -r '.target')"
t_match "auto names both candidates" "pid $A .*pid $B |pid $B .*pid $A " "$(tr -d '\n' <"$T_TMP/auto.log")"
t_empty "kernel threads are not candidates" "$(grep -o 'kdevtmpfs\|kthreadd' "$T_TMP/auto.log")"
stop_serve

start_serve "$T_TMP/exe" --target-exe "^/tmp/u$$/sleep\$"
t_eq "--target-exe picks the container running that binary" "$B" "$(healthz_target)"
code=$(curl -s -o "$T_TMP/exe.json" -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/v1/capture?reason=disc")
t_eq "capture through --target-exe: 200" 200 "$code"
b=$(jq -r .bundle "$T_TMP/exe.json")
t_eq "its bundle is of that container" "$B" "$(bsdtar -xOf "$b" manifest.json 2>/dev/null | jq -r .target.pid)"
stop_serve

start_serve "$T_TMP/cg" --target-cgroup "$A_ID"
t_eq "--target-cgroup picks the container with that id" "$A" "$(healthz_target)"
stop_serve
