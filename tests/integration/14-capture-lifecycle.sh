#!/usr/bin/env bash
# A snapshot's life when it is cut short. SIGTERM, SIGHUP and SIGINT mid-capture: it stops within
# moments, exits 4, leaves no bundle, no .partial and no spool file, and the target runs on.
# SIGKILL can only leave NAME.tar.partial: the next snapshot into that directory says so (stderr
# and a warning in its capture log), never touches it, and refuses --name NAME.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case I-07 'issue case 7: SIGTERM, SIGHUP, SIGINT and SIGKILL to snapshot mid-capture'

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-life-$$"
P=$T_TARGET_PID
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$T_TARGET_NAME")
[[ -d $UPPER ]] || t_bail "upperdir of the target" "$UPPER"
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
# A large upper file makes the capture last seconds: long enough to be interrupted mid-way.
# Real data (not a hole), so that no sparse-file shortcut makes it instant.
yes 0123456789abcdef | head -c 1G >"$UPPER/data/big.bin"
OUT=$T_TMP/out
mkdir -p "$OUT"

# start_capture NAME: a snapshot in the background, $CP its pid, once its .partial holds 32 MiB
# (the upperdir copy is under way).
start_capture() {
	"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name "$1" \
		>"$T_TMP/$1.out" 2>"$T_TMP/$1.err" &
	CP=$!
	local i s
	for ((i = 0; i < 1500; i++)); do
		s=$(stat -c %s "$OUT/$1.tar.partial" 2>/dev/null || echo 0)
		((s > 33554432)) && return 0
		kill -0 "$CP" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# The target is not frozen and answers: snapshot does not freeze, and must never leave it so.
target_runs() {
	local st
	st=$(cat "/sys/fs/cgroup/freezer$(grep -m1 ':freezer:' "/proc/$P/cgroup" | cut -d: -f3)/freezer.state" 2>/dev/null ||
		cat "/sys/fs/cgroup$(grep -m1 '^0::' "/proc/$P/cgroup" | cut -d: -f3)/cgroup.freeze" 2>/dev/null)
	[[ $st == THAWED || $st == 0 ]] && timeout 10 podman exec "$T_TARGET_NAME" true
}

for sig in TERM HUP INT; do
	name=sig$sig
	if ! start_capture "$name"; then
		t_bail "SIG$sig: the capture was under way before the signal" "$(cat "$T_TMP/$name.err")"
	fi
	t0=$(date +%s%N)
	kill -"$sig" "$CP"
	rc=0
	wait "$CP" || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	t_eq "SIG$sig mid-capture: exit 4 (interrupted, no bundle)" 4 "$rc"
	t_ok "SIG$sig: stopped within 5 s (took ${ms} ms)" test "$ms" -lt 5000
	t_match "SIG$sig: says so on stderr" "interrupted by .*capture abandoned, no bundle written" \
		"$(cat "$T_TMP/$name.err")"
	t_empty "SIG$sig: nothing printed on stdout" "$(cat "$T_TMP/$name.out")"
	t_empty "SIG$sig: no bundle, no .partial, no signature, no spool file left" "$(ls -A "$OUT")"
	t_ok "SIG$sig: the target runs on, not frozen" target_runs
done

# ---- SIGKILL: only a .partial can be left
if ! start_capture killed; then
	t_bail "SIGKILL: the capture was under way before the signal" "$(cat "$T_TMP/killed.err")"
fi
kill -KILL "$CP"
wait "$CP" 2>/dev/null
t_ok "SIGKILL leaves killed.tar.partial" test -f "$OUT/killed.tar.partial"
t_ok "and no sealed bundle" test ! -e "$OUT/killed.tar"
before=$(stat -c '%s %Y %i' "$OUT/killed.tar.partial")
rm -f "$UPPER/data/big.bin"

rc=0
"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" >"$T_TMP/next.out" 2>"$T_TMP/next.err" || rc=$?
t_eq "the next snapshot in that directory succeeds" 0 "$rc"
t_match "it names the leftover on stderr" "warning: .*/killed\.tar\.partial: left by an interrupted capture" \
	"$(cat "$T_TMP/next.err")"
B=$(jq -r .bundle "$T_TMP/next.out" 2>/dev/null)
t_match "under a name of its own" '/afterimage-[^/]*\.tar$' "$B"
X=$T_TMP/x
mkdir -p "$X"
tar -xf "$B" -C "$X" 2>/dev/null
t_eq "its capture log has a warning naming the leftover" "warning killed.tar.partial" \
	"$(jq -r '.events[]|select(.collector=="bundle")|"\(.level) \(.path)"' "$X/capture-log.json" 2>&1)"
t_eq "the bundle stays complete (a leftover is a warning)" true "$(jq -r .complete "$X/manifest.json")"
t_ok "minisign verifies it" minisign -Vm "$B" -p "$T_TMP/k.pub" -q
t_eq "the leftover is untouched" "$before" "$(stat -c '%s %Y %i' "$OUT/killed.tar.partial")"

rc=0
"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name killed >"$T_TMP/same.out" \
	2>"$T_TMP/same.err" || rc=$?
t_eq "--name of the leftover is refused (exit 1, no bundle)" 1 "$rc"
t_match "saying why" "killed\.tar\.partial exists: left by an interrupted capture, it is never reused" \
	"$(cat "$T_TMP/same.err")"
t_eq "the leftover is still untouched" "$before" "$(stat -c '%s %Y %i' "$OUT/killed.tar.partial")"
t_ok "and no bundle was made of it" test ! -e "$OUT/killed.tar"

# ---- the documented exit codes
t_match "snapshot --help documents exit 4" "4 when.*interrupted" "$("$CAPTURE" snapshot --help | tr '\n' ' ')"
t_case_end 'exit 4 with nothing left behind and the target running; after SIGKILL the .partial is reported by the next run and never reused' "whole test: ${SECONDS} s"
