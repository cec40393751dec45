#!/usr/bin/env bash
# Processes the capture cannot fully have. A target that forks 10,000 short-lived processes while
# it is captured, back to back: every capture ends in bounded time, pins at most --max-procs (or
# what the descriptor limit allows) and says how many it left out. And a capture without
# CAP_SYS_PTRACE (a sidecar not granted it) of a process that is not dumpable: the kernel refuses
# its /proc links with EACCES; the process is still captured and every refusal is an error in the
# capture log with the /proc path.
. "$(dirname "$0")/../lib.sh"
t_require_capture
t_case I-11 'matrix: a target forking 10,000 processes during the capture; /proc entries refused (EACCES without CAP_SYS_PTRACE)'

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
# podman's default pids limit (2048) would stop the forks before the captures see many.
t_target "ai-procs-$$" --pids-limit 16384
P=$T_TARGET_PID
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$T_TARGET_NAME")
"$CAPTURE" keygen -o "$T_TMP/k" >/dev/null
OUT=$T_TMP/out
mkdir -p "$OUT"
# Some upper content, so that each capture lasts a while and the forks happen during it.
yes 0123456789abcdef | head -c 128M >"$UPPER/data/some.bin"

# ---- 10,000 forks during the captures
podman exec -d "$T_TARGET_NAME" sh -c \
	'i=0; while [ $i -lt 10000 ]; do sleep 1 & i=$((i + 1)); done; touch /tmp/forks-done'
n=0 worst=0 bad=0 errors=0 during=0
# capture while the target forks, and at least 3 times in all (a loaded machine may fork faster
# than it captures: the captures after the forks still check the cuts)
while ((n < 50)); do
	forking=1
	podman exec "$T_TARGET_NAME" test -f /tmp/forks-done 2>/dev/null && forking=0
	((forking == 0 && n >= 3)) && break
	((forking)) && during=$((during + 1))
	n=$((n + 1))
	args=(--name "f$n")
	((n % 3 == 1)) && args+=(--max-procs 200)
	lim=()
	# one capture in three under a descriptor limit of 1024: at most (1024 - 256) / 3 pinned
	((n % 3 == 0)) && lim=(prlimit --nofile=1024:1024)
	t0=$(date +%s%N)
	rc=0
	"${lim[@]}" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" "${args[@]}" \
		>"$T_TMP/f$n.out" 2>"$T_TMP/f$n.err" || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	((ms > worst)) && worst=$ms
	if ((rc != 0 && rc != 3)); then
		bad=$((bad + 1))
		t_diag "capture $n: exit $rc: $(tail -n 3 "$T_TMP/f$n.err")"
		continue
	fi
	X=$T_TMP/x$n
	mkdir -p "$X"
	tar -xf "$OUT/f$n.tar" -C "$X" manifest.json processes.json capture-log.json 2>/dev/null
	np=$(jq '.processes|length' "$X/processes.json")
	mp=$(jq .target.processes "$X/manifest.json")
	if [[ $np != "$mp" ]]; then
		bad=$((bad + 1))
		t_diag "capture $n: processes.json has $np, the manifest says $mp"
	fi
	if ! jq -e ".processes[]|select(.pid==$P)" "$X/processes.json" >/dev/null; then
		bad=$((bad + 1))
		t_diag "capture $n: the target's own pid $P is not among those pinned"
	fi
	if ((n % 3 == 1 && np > 200)) || ((n % 3 == 0 && np > 256)); then
		bad=$((bad + 1))
		t_diag "capture $n: $np processes pinned, more than its cut"
	fi
	# what the others left: only what a vanishing process explains
	errs=$(jq -r '.events[]|select(.level=="error")|"\(.path // "") \(.message)"' "$X/capture-log.json" | head -n 3)
	if [[ -n $errs ]]; then
		errors=$((errors + 1))
		t_diag "capture $n errors: $errs"
	fi
	t_diag "capture $n: exit $rc, ${ms} ms, $np processes"
	rm -rf "$X" "$OUT/f$n.tar" "$OUT/f$n.tar.minisig"
done
t_ok "the target forked 10,000 processes while it was captured ($n captures)" \
	podman exec "$T_TARGET_NAME" test -f /tmp/forks-done
t_ok "captures ran while the target forked ($during of $n)" test "$during" -ge 1 -a "$n" -ge 3
t_eq "every capture sealed a bundle that agrees with itself, the target's pid pinned" 0 "$bad"
t_ok "bounded time: the slowest capture took ${worst} ms" test "$worst" -lt 60000
t_eq "no error in any capture: processes that exit mid-capture are warnings" 0 "$errors"

# ---- the cuts, on a steady count: 400 sleepers
podman exec -d "$T_TARGET_NAME" sh -c 'i=0; while [ $i -lt 400 ]; do sleep 100010 & i=$((i + 1)); done; wait'
for ((i = 0; i < 100; i++)); do
	(($(pgrep -c -f '^sleep 100010$') >= 400)) && break
	sleep 0.1
done
# cut_check DESC MAX WHY [prefix command...]: a capture with $CUT_ARGS pins MAX processes
cut_check() {
	local desc=$1 max=$2 why=$3 rc=0 X=$T_TMP/cut
	shift 3
	rm -rf "$X" "$OUT/cut.tar" "$OUT/cut.tar.minisig"
	"$@" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name cut "${CUT_ARGS[@]}" \
		>"$T_TMP/cut.out" 2>&1 || rc=$?
	t_eq "$desc: a complete bundle" 0 "$rc"
	mkdir -p "$X"
	tar -xf "$OUT/cut.tar" -C "$X" manifest.json processes.json capture-log.json 2>/dev/null
	t_eq "$desc: $max processes pinned, the target's pid among them" "$max 1" \
		"$(jq -r "[(.processes|length), ([.processes[]|select(.pid==$P)]|length)]|map(tostring)|join(\" \")" "$X/processes.json" 2>&1)"
	t_match "$desc: the rest counted in the capture log" \
		"^[0-9]+ more processes of the container not captured: at most $max are pinned \\($why\\)$" \
		"$(jq -r '.events[]|select(.collector=="target" and .level=="truncated")|.message' "$X/capture-log.json" 2>&1)"
}
CUT_ARGS=(--max-procs 200)
cut_check "--max-procs 200" 200 "--max-procs"
# (1024 - 256 kept for the rest) / 3 descriptors per process
CUT_ARGS=()
cut_check "RLIMIT_NOFILE 1024" 256 "the descriptor limit \\(RLIMIT_NOFILE\\)" prlimit --nofile=1024:1024
pkill -f '^sleep 100010$'
rm -f "$UPPER/data/some.bin"
sleep 1.5 # the last forks' sleeps are gone

# ---- EACCES: a capture without CAP_SYS_PTRACE, a process that is not dumpable
# An executable its user cannot read makes the process non-dumpable at exec (the kernel's
# would_dump); run as nobody, its /proc/PID/{exe,cwd,root,ns/*,fd/*} links need ptrace access.
podman exec "$T_TARGET_NAME" sh -c 'cp /bin/busybox /data/xonly && chmod 0111 /data/xonly && ln -sf /data/xonly /data/sleep'
podman exec -d "$T_TARGET_NAME" su -s /bin/sh nobody -c 'exec /data/sleep 100009'
nd=
for ((i = 0; i < 100; i++)); do
	nd=$(pgrep -f '^/data/sleep 100009$' | head -n 1)
	[[ -n $nd ]] && break
	sleep 0.1
done
[[ -n $nd ]] || t_bail "a non-dumpable process as nobody in the target"
t_eq "the process runs as nobody" 65534 "$(awk '/^Uid:/ {print $2}' "/proc/$nd/status")"
t_eq "its /proc files belong to root (not dumpable)" "0" "$(stat -c %u "/proc/$nd/environ")"
command -v setpriv >/dev/null || t_bail "setpriv (util-linux) is installed"
rc=0
setpriv --bounding-set=-sys_ptrace --inh-caps=-sys_ptrace \
	"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/k.key" -o "$OUT" --name np >"$T_TMP/np.out" 2>&1 || rc=$?
t_eq "without CAP_SYS_PTRACE: a partial bundle (exit 3)" 3 "$rc"
X=$T_TMP/np
mkdir -p "$X"
tar -xf "$OUT/np.tar" -C "$X" 2>/dev/null
j() { jq -r "$@" 2>&1; }
t_eq "the non-dumpable process is captured all the same" "$nd" "$(j ".processes[]|select(.pid==$nd).pid" "$X/processes.json")"
t_eq "kept as the container's by its cgroup, and that is an error with the path" "error /proc/$nd/ns/mnt" \
	"$(j ".events[]|select(.collector==\"target\")|\"\(.level) \(.path)\"" "$X/capture-log.json")"
refused() { j ".events[]|select(.level==\"error\" and .path==\"/proc/$nd/$1\")|.message" "$X/capture-log.json"; }
t_match "EACCES on /proc/$nd/exe is an error with its path" "pid $nd: exe: readlink exe: Permission denied" "$(refused exe)"
t_match "EACCES on /proc/$nd/cwd too" "Permission denied" "$(refused cwd)"
t_match "EACCES on /proc/$nd/ns/net too" "Permission denied" "$(refused ns/net)"
t_match "EACCES on /proc/$nd/fd/0 (fds) too" "pid $nd fd 0: .*Permission denied" "$(refused fd/0)"
t_match "its processes.json entry says what is missing" "exe: readlink exe: Permission denied" \
	"$(j ".processes[]|select(.pid==$nd).error" "$X/processes.json")"
t_empty "the other processes are whole" \
	"$(j "[.processes[]|select(.pid!=$nd and .error!=null)]|map(.pid)|join(\",\")" "$X/processes.json")"
t_case_end 'bounded by --max-procs, the cut and every refused entry recorded with its path; the bundle is sealed' "whole test: ${SECONDS} s"
