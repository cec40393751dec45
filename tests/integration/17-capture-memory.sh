#!/usr/bin/env bash
# --memory on a real podman/runc container: tests/fixtures/memprog (a heap secret, a global set at
# run time, two threads blocked in known functions) is captured frozen with snapshot --memory;
# Debian's gdb opens memory/PID.core with the binary and prints every thread's backtrace and the
# global, the secret is in the core, the bundle verifies with stock minisign and sha256sum, the
# target was thawed and detached and runs on. Without --memory there is no memory/ member; a
# --memory-cap cut is logged and listed; serve --memory (hardened: seccomp allows ptrace and
# process_vm_readv only then) writes the same core.
. "$(dirname "$0")/../lib.sh"
t_require_capture
command -v gdb >/dev/null || t_bail "gdb is installed" "apt-get install gdb"

MEMPROG=$BUILD/tests/fixtures/memprog
[[ -x $MEMPROG ]] || t_bail "memprog is built" "missing $MEMPROG: run make"
SECRET=AFTERIMAGE-HEAP-SECRET-7f3a9
t_fail "the secret is not a literal of the binary (only memory holds it)" grep -qa "$SECRET" "$MEMPROG"

t_target "ai-A-mem-$$" -v "$MEMPROG:/memprog:ro" --entrypoint /memprog
P=$T_TARGET_PID
KEY=$T_TMP/key
"$CAPTURE" keygen -o "$KEY" >/dev/null
OUT=$T_TMP/out
mkdir -p "$OUT"
j() { jq -r "$@" 2>&1; }

# ---- snapshot --memory --freeze
t_ok "snapshot --memory --freeze exits 0 (complete)" \
	"$CAPTURE" snapshot --pid "$P" --key "$KEY.key" -o "$OUT" --name m1 --memory --freeze
B=$OUT/m1.tar
t_ok "minisign -V verifies the bundle" minisign -Vm "$B" -p "$KEY.pub"
X=$T_TMP/x
mkdir -p "$X"
tar -xf "$B" -C "$X"
t_ok "sha256sum -c SHA256SUMS passes (the core included)" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
t_ok "minisign verifies SHA256SUMS.minisig" minisign -Vm "$X/SHA256SUMS" -x "$X/SHA256SUMS.minisig" -p "$KEY.pub"
CORE=$X/memory/$P.core
t_ok "memory/$P.core is a member" test -s "$CORE"
t_eq "SHA256SUMS lists the core" 1 "$(grep -c " memory/$P.core\$" "$X/SHA256SUMS")"
t_match "file(1) says ELF core" 'ELF 64-bit LSB core file, x86-64' "$(file -b "$CORE")"
t_eq "manifest: frozen" true "$(j .freeze.frozen "$X/manifest.json")"
t_eq "manifest limits: memory anon" anon "$(j .limits.memory "$X/manifest.json")"
IDX=$X/memory/index.json
t_eq "index: the core's member name" "memory/$P.core" "$(j ".processes[]|select(.pid==$P).member" "$IDX")"
t_eq "index: the core's sha256 is the member's" "$(sha256sum "$CORE" | cut -d' ' -f1)" \
	"$(j ".processes[]|select(.pid==$P).sha256" "$IDX")"
t_eq "index: 3 threads, all with registers" "3 true" \
	"$(j "[.processes[]|select(.pid==$P).threads[]]|\"\(length) \(all(.registers))\"" "$IDX")"
t_eq "index: the heap is dumped" true "$(j "[.processes[]|select(.pid==$P).mappings[]|select(.path==\"[heap]\")|.dumped>0]|all" "$IDX")"
t_eq "index: text of the binary not dumped under anon" "file-backed (--memory=all dumps it)" \
	"$(j "[.processes[]|select(.pid==$P).mappings[]|select(.path==\"/memprog\" and .perms==\"r-xp\")][0].not_dumped" "$IDX")"

GDB=$T_TMP/gdb.out
gdb -batch -ex 'thread apply all bt' -ex 'print/x memprog_global' -ex 'print memprog_secret' \
	-c "$CORE" "$MEMPROG" >"$GDB" 2>&1
t_diag "$(grep -E '^(Thread|#|\$)' "$GDB" | head -20)"
t_eq "gdb: three threads" 3 "$(grep -c '^Thread [0-9]' "$GDB")"
t_match "gdb: a backtrace through main" ' in main \(' "$(cat "$GDB")"
t_match "gdb: the pause thread's backtrace" ' in memprog_wait_pause \(' "$(cat "$GDB")"
t_match "gdb: the sleeping thread's backtrace" ' in memprog_wait_sleep \(' "$(cat "$GDB")"
t_match "gdb: the threads are the container's LWPs (libpthread agrees)" 'Thread 0x[0-9a-f]+ \(LWP 1\)' "$(cat "$GDB")"
t_ok "gdb: the global's run-time value" grep -qx '\$1 = 0x5ec2e7c0ffee' "$GDB"
t_ok "gdb: the heap secret through the pointer" grep -qxE "\\\$2 = 0x[0-9a-f]+ \"$SECRET\"" "$GDB"
t_ok "the secret is in the core (grep -a)" grep -qa "$SECRET" "$CORE"
# the analyzer on the bundle itself: the secret is found in the heap at the address gdb printed
addr=$(sed -nE "s/^\\\$2 = (0x[0-9a-f]+) .*/\\1/p" "$GDB")
MS=$("$ANALYZE" memory "$B" --pid "$P" --search "$SECRET" --json 2>&1)
t_eq "analyze memory --search finds the heap secret in the bundle's core, in the heap, at gdb's address" \
	"heap $addr" "$(jq -r '[.matches[] | "\(.map.kind) \(.address)"] | first' <<<"$MS" 2>&1)"
# the kernel's names of the anonymous mappings (memory/index.json, from /proc/PID/maps) are the
# analyzer's kinds: the core alone names none of them
want=$(tar -xOf "$B" memory/index.json | jq -r --argjson p "$P" '.processes[]|select(.pid==$p).mappings[]|select(.path|test("^\\[(heap|stack|vdso|vvar)\\]$"))|"\(.start) \(.path|ltrimstr("[")|rtrimstr("]"))"' | sort)
t_match "the index names the heap, the stack and the vdso" 'heap.*stack.*vdso|heap.*vdso.*stack|stack.*heap.*vdso|stack.*vdso.*heap|vdso.*heap.*stack|vdso.*stack.*heap' "$(awk '{print $2}' <<<"$want" | sort | tr '\n' ' ')"
t_eq "memory --maps: every mapping the kernel named has that kind" "$want" \
	"$("$ANALYZE" memory "$B" --pid "$P" --maps --json 2>/dev/null | jq -r --argjson w "$(awk '{print $1}' <<<"$want" | jq -R . | jq -s .)" '.maps[]|select(.start as $s | $w | index($s))|"\(.start) \(.kind)"' | sort)"

# ---- the target after the capture: thawed, detached, running
st=$(awk '/^State:/{print $2}' "/proc/$P/status")
t_match "the target is not stopped or frozen (state S/R)" '^[SR]$' "$st"
t_eq "no tracer left on any thread" "0 0 0" "$(for t in /proc/$P/task/*; do awk '/^TracerPid:/{printf "%s ", $2}' "$t/status"; done | sed 's/ $//')"
t_ok "the container still runs" podman exec "$T_TARGET_NAME" test -f /tmp/ready
t_eq "the frozen cgroup was thawed" running "$(podman inspect -f '{{.State.Status}}' "$T_TARGET_NAME")"

# ---- the v1 freezer (a cgroup root where only the v1 freezer hierarchy is found): there the
# seized threads stop only on the thaw, and still before they run
if [[ -d /sys/fs/cgroup/freezer ]] && grep -q ':freezer:/.' "/proc/$P/cgroup"; then
	V1=$T_TMP/cgroot-v1
	mkdir -p "$V1"
	ln -s /sys/fs/cgroup/freezer "$V1/freezer"
	t_ok "snapshot --memory --freeze on the v1 freezer" "$CAPTURE" snapshot --pid "$P" --key "$KEY.key" \
		-o "$OUT" --name mv1 --memory --freeze --cgroup-root "$V1"
	t_eq "v1: frozen by cgroup1" "true cgroup1" "$(tar -xOf "$OUT/mv1.tar" manifest.json | jq -r '"\(.freeze.frozen) \(.freeze.method)"')"
	t_eq "v1: every thread reached its ptrace-stop after the thaw (registers)" "3 true" \
		"$(tar -xOf "$OUT/mv1.tar" memory/index.json | jq -r "[.processes[]|select(.pid==$P).threads[]]|\"\(length) \(all(.registers))\"")"
	mkdir -p "$T_TMP/v1x"
	tar -xf "$OUT/mv1.tar" -C "$T_TMP/v1x" "memory/$P.core"
	t_match "v1: gdb backtraces the sleeping thread" ' in memprog_wait_sleep \(' \
		"$(gdb -batch -ex 'thread apply all bt' -c "$T_TMP/v1x/memory/$P.core" "$MEMPROG" 2>&1)"
	fz=$(awk -F: '$2=="freezer"{print $3}' "/proc/$P/cgroup")
	t_eq "v1: thawed" THAWED "$(cat "/sys/fs/cgroup/freezer$fz/freezer.state")"
else
	t_skip "the v1 freezer" "no v1 freezer hierarchy for the target on this host"
fi

# ---- without --memory: no memory/ member, no memory limits
t_ok "snapshot without --memory" "$CAPTURE" snapshot --pid "$P" --key "$KEY.key" -o "$OUT" --name m0
t_empty "no memory/ member without --memory" "$(tar -tf "$OUT/m0.tar" | grep '^memory/')"
t_empty "no memory timing entry without --memory" \
	"$(tar -xOf "$OUT/m0.tar" capture-log.json | jq -r '.collectors[]|select(.name=="memory")|.name')"

# ---- a cap: 1 MiB of core per process cuts the thread stacks' neighbours, and says so
t_ok "snapshot --memory --memory-cap 1048576" \
	"$CAPTURE" snapshot --pid "$P" --key "$KEY.key" -o "$OUT" --name mcap --memory --memory-cap 1048576
LOG=$(tar -xOf "$OUT/mcap.tar" capture-log.json)
t_match "the cap cut is a truncated event" '"level":"truncated".*--memory-cap per process' "$LOG"
CIDX=$(tar -xOf "$OUT/mcap.tar" memory/index.json)
t_eq "index: the cut bytes are recorded" true "$(jq "[.processes[]|select(.pid==$P).cut_bytes>0]|all" <<<"$CIDX")"
t_eq "index: at most 1 MiB dumped" true \
	"$(jq "[.processes[]|select(.pid==$P).mappings[].dumped]|add <= 1048576" <<<"$CIDX")"
t_eq "a per-process cap keeps the bundle complete" true "$(tar -xOf "$OUT/mcap.tar" manifest.json | jq .complete)"
t_ok "--memory-total 8192 cuts as a budget: exit 3 (partial)" bash -c \
	"'$CAPTURE' snapshot --pid $P --key '$KEY.key' -o '$OUT' --name mtot --memory --memory-total 8192; test \$? = 3"
t_match "the total's cut is logged" '--memory-total budget' "$(tar -xOf "$OUT/mtot.tar" capture-log.json)"
t_fail "--memory=bogus is a usage error" "$CAPTURE" snapshot --pid "$P" --key "$KEY.key" -o "$OUT" --memory=bogus

# ---- --memory=all also dumps the binary's text
t_ok "snapshot --memory=all" "$CAPTURE" snapshot --pid "$P" --key "$KEY.key" -o "$OUT" --name mall --memory=all
AIDX=$(tar -xOf "$OUT/mall.tar" memory/index.json)
t_eq "--memory=all: the text mapping is dumped" true \
	"$(jq "[.processes[]|select(.pid==$P).mappings[]|select(.path==\"/memprog\" and .perms==\"r-xp\")][0].dumped>0" <<<"$AIDX")"

# ---- serve --memory, hardened (seccomp admits ptrace and process_vm_readv)
SOUT=$T_TMP/serve
mkdir -p "$SOUT"
"$CAPTURE" serve --key "$KEY.key" -o "$SOUT" --listen none --socket "$T_TMP/trig.sock" \
	--target-pid "$P" --memory 2>"$T_TMP/serve.log" &
SPID=$!
t_cleanup "kill -9 $SPID"
for ((i = 0; i < 100; i++)); do
	grep -q '"event":"listening"' "$T_TMP/serve.log" 2>/dev/null && break
	sleep 0.05
done
t_ok "trigger a serve --memory capture" "$CAPTURE" trigger --socket "$T_TMP/trig.sock" --reason memtest
SB=$(jq -r .bundle "$T_TMP/.t_out" 2>/dev/null)
t_match "serve answered with a bundle" '\.tar$' "$SB"
t_eq "serve ran hardened (Seccomp: 2)" 2 "$(awk '/^Seccomp:/{print $2}' "/proc/$SPID/status")"
t_ok "serve's core is in its bundle" bash -c "tar -tf '$SB' | grep -qx 'memory/$P.core'"
t_ok "the secret is in serve's core" bash -c "tar -xOf '$SB' memory/$P.core | grep -qa '$SECRET'"
t_empty "serve's capture logged no memory error" \
	"$(tar -xOf "$SB" capture-log.json | jq -r '.events[]|select(.collector=="memory" and .level=="error")|.message')"
kill -TERM "$SPID" 2>/dev/null
wait "$SPID" 2>/dev/null
t_match "after serve, the target runs on (state S/R)" '^[SR]$' "$(awk '/^State:/{print $2}' "/proc/$P/status")"
