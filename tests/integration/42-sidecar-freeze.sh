#!/usr/bin/env bash
# Freezing: the target's cgroup is frozen while its volatile state is read and thawed after; the
# window is in the manifest; when the sidecar is SIGKILLed mid-freeze its watchdog thaws.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case S-03 'the sidecar SIGKILLed while the target is frozen for a capture'

KEYS=$T_TMP/keys OUT=$T_TMP/out
mkdir -p "$KEYS" "$OUT"
"$CAPTURE" keygen -o "$KEYS/k" >/dev/null
t_target "ai-sc-freeze-$$"
P=$T_TARGET_PID
cg=$(sed -n 's/^0:://p' "/proc/$P/cgroup")
EV=
for f in "/sys/fs/cgroup$cg/cgroup.events" "/sys/fs/cgroup/unified$cg/cgroup.events"; do [[ -f $f ]] && EV=$f && break; done
V1=$(sed -n 's/^[0-9]*:freezer:\(.*\)$/\/sys\/fs\/cgroup\/freezer\1\/freezer.state/p' "/proc/$P/cgroup")
frozen() { # prints 1 when the target's cgroup is frozen, 0 when not
	if [[ -n $EV ]]; then sed -n 's/^frozen //p' "$EV"; else [[ $(cat "$V1") == FROZEN ]] && echo 1 || echo 0; fi
}
t_eq "target not frozen before" 0 "$(frozen)"

start() {
	# the previous serve's log says "listening" too: gone before the next serve truncates it
	rm -f "$T_TMP/serve.log"
	"$CAPTURE" serve --key "$KEYS/k.key" -o "$OUT" --listen none --socket "$T_TMP/s.sock" --target-pid "$P" "$@" \
		2>"$T_TMP/serve.log" &
	SPID=$!
	t_cleanup "kill -9 $SPID"
	t_wait_listening "$T_TMP/serve.log" "$SPID" || t_bail "serve started" "$(cat "$T_TMP/serve.log")"
}

# ---- a normal capture: frozen during, thawed after, window recorded
start
r=$("$CAPTURE" trigger --socket "$T_TMP/s.sock" --reason freeze-test 2>&1)
t_eq "thawed after the capture" 0 "$(frozen)"
B=$(ls "$OUT"/*.tar | head -1)
m=$(tar -xOf "$B" manifest.json 2>/dev/null)
t_match "manifest records the freeze window and method" '"freeze":\{"frozen":true,"ms":[0-9]+\.[0-9]+,"method":"cgroup[12]"\}' "$m"
ms=$(grep -o '"freeze":{"frozen":true,"ms":[0-9]*' <<<"$m" | grep -o '[0-9]*$')
t_ok "freeze window under 1 s (${ms} ms)" test "${ms:-99999}" -lt 1000
t_match "the capture log shows the volatile collectors ran" '"name":"processes".*"name":"sockets"' \
	"$(tar -xOf "$B" capture-log.json 2>/dev/null)"
kill -TERM "$SPID"; wait "$SPID"

# ---- --no-freeze: not frozen, manifest says so
rm -f "$OUT"/*
start --no-freeze
"$CAPTURE" trigger --socket "$T_TMP/s.sock" >/dev/null 2>&1
t_match "--no-freeze: manifest frozen false, method null" '"freeze":\{"frozen":false,"ms":0\.000,"method":null\}' \
	"$(tar -xOf "$(ls "$OUT"/*.tar | head -1)" manifest.json 2>/dev/null)"
kill -TERM "$SPID"; wait "$SPID"

# ---- SIGKILL while frozen: the watchdog thaws
start --debug-freeze-hold-ms 5000
"$CAPTURE" trigger --socket "$T_TMP/s.sock" >/dev/null 2>&1 &
TPID=$!
for ((i = 0; i < 100; i++)); do [[ $(frozen) == 1 ]] && break; sleep 0.05; done
t_eq "frozen while the capture holds" 1 "$(frozen)"
WD=$(pgrep -P "$SPID" | head -1)
t_match "a watchdog child exists during the freeze" '^[0-9]+$' "$WD"
kill -9 "$SPID"
wait "$SPID" 2>/dev/null
for ((i = 0; i < 40; i++)); do [[ $(frozen) == 0 ]] && break; sleep 0.05; done
t_eq "thawed by the watchdog after SIGKILL of the sidecar" 0 "$(frozen)"
sleep 0.2
wst=$(awk '{print $3}' "/proc/${WD:-999999999}/stat" 2>/dev/null)
t_ok "the watchdog exited after thawing (state: ${wst:-gone})" test "${wst:-Z}" = Z
wait "$TPID" 2>/dev/null
t_ok "the target still runs after all this" podman exec "$T_TARGET_NAME" true
t_case_end 'the watchdog child thaws the cgroup; the target runs on' "whole test: ${SECONDS} s"
