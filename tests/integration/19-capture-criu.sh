#!/usr/bin/env bash
# snapshot --criu and serve --criu on a real podman/runc container. Always run: without --criu,
# with a criu that exits 1, and with one that passes its probes but fails the dump (real
# executables first on PATH), the bundle says why in its manifest and capture log and is still
# sealed. The rest runs only when the criu first on PATH is 4.1 or later and passes `criu check`
# (Debian 12's 3.17 does not: then it is skipped with the reason, never faked; run it by hand
# with such a criu first on PATH): the checkpoint members read back by crit, the target still
# running; a real dump failing (a deleted-open file over the ghost limit); a pod's shared pid
# namespace recorded as unsupported; a hardened serve dumping through its runner.
. "$(dirname "$0")/../lib.sh"
t_require_capture

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_target "ai-criu-$$"
P=$T_TARGET_PID
OUT=$T_TMP/out
mkdir -p "$OUT"
t_ok "keygen" "$CAPTURE" keygen -o "$T_TMP/key"
j() { jq -r "$@" 2>&1; }

# bundle NAME: extract OUTDIR/NAME.tar into $T_TMP/NAME; every check of a sealed bundle.
bundle() {
	local b=$OUT/$1.tar x=$T_TMP/$1
	mkdir -p "$x"
	t_ok "$1: minisign verifies the bundle" minisign -Vm "$b" -p "$T_TMP/key.pub"
	t_ok "$1: tar extracts it" tar -xf "$b" -C "$x"
	t_ok "$1: sha256sum -c SHA256SUMS passes" bash -c "cd '$x' && sha256sum -c --quiet SHA256SUMS"
	t_empty "$1: CRIU's private directory is gone from the output directory" \
		"$(find "$OUT" -maxdepth 1 -name '.criu-*')"
}

# ---- without --criu: recorded as not asked
t_ok "snapshot without --criu exits 0" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name n0
bundle n0
t_eq "n0: manifest criu.requested is false" false "$(j .criu.requested "$T_TMP/n0/manifest.json")"
t_eq "n0: manifest criu.status" not-requested "$(j .criu.status "$T_TMP/n0/manifest.json")"
t_empty "n0: no checkpoint/ member" "$(tar -tf "$OUT/n0.tar" 2>/dev/null | grep '^checkpoint/')"

# ---- a criu that exits 1 for everything: unusable, a skip, the bundle complete
FAKE=$T_TMP/fake-exit1
mkdir -p "$FAKE"
printf '#!/bin/sh\nexit 1\n' >"$FAKE/criu"
chmod 755 "$FAKE/criu"
t_ok "snapshot --criu with a criu that exits 1: exit 0" \
	env PATH="$FAKE:$PATH" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name f1 --criu
bundle f1
M=$T_TMP/f1/manifest.json
t_eq "f1: manifest criu.requested" true "$(j .criu.requested "$M")"
t_eq "f1: manifest criu.status" version-unreadable "$(j .criu.status "$M")"
t_eq "f1: manifest criu.path is the one found on PATH" "$FAKE/criu" "$(j .criu.path "$M")"
t_match "f1: the reason says how it ended" 'exited 1' "$(j .criu.reason "$M")"
t_match "f1: a skip event of the criu collector" '"level":"skip","collector":"criu"' \
	"$(j -c '.events[]|select(.collector=="criu")' "$T_TMP/f1/capture-log.json")"
t_eq "f1: complete (CRIU unusable on the node is not an error)" true "$(j .complete "$M")"
t_empty "f1: no checkpoint/ member" "$(tar -tf "$OUT/f1.tar" 2>/dev/null | grep '^checkpoint/')"

# ---- a criu that passes its probes and fails the dump: an error, a partial bundle, still sealed
FAKE2=$T_TMP/fake-dumpfail
mkdir -p "$FAKE2"
cat >"$FAKE2/criu" <<'EOF'
#!/bin/sh
case $1 in
--version) echo "Version: 4.2" ;;
check) echo "Looks good." ;;
*) echo "Error (cr-dump.c): dump refused by this criu" >&2; exit 1 ;;
esac
EOF
chmod 755 "$FAKE2/criu"
PATH="$FAKE2:$PATH" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name f2 --criu >/dev/null 2>&1
t_eq "snapshot --criu with a failing dump: exit 3 (partial)" 3 "$?"
bundle f2
M=$T_TMP/f2/manifest.json
t_eq "f2: manifest criu.status" dump-failed "$(j .criu.status "$M")"
t_eq "f2: manifest criu.exit_code" 1 "$(j .criu.exit_code "$M")"
t_eq "f2: manifest criu.tree_root is the container's init" "$P" "$(j .criu.tree_root "$M")"
t_match "f2: the reason is criu's last line" 'dump refused by this criu' "$(j .criu.reason "$M")"
t_match "f2: criu's output is a member" 'dump refused by this criu' "$(cat "$T_TMP/f2/criu/dump.out" 2>&1)"
t_eq "f2: complete false" false "$(j .complete "$M")"
t_empty "f2: no checkpoint/ member" "$(tar -tf "$OUT/f2.tar" 2>/dev/null | grep '^checkpoint/')"

# ---- the real checkpoint, when this node's criu can do it
why=
CRIU=$(command -v criu || true)
if [[ -z $CRIU ]]; then
	why="no criu on PATH"
else
	ver=$("$CRIU" --version 2>/dev/null | sed -n 's/^Version: *//p')
	IFS=. read -r maj min _ <<<"$ver"
	if ! [[ $maj =~ ^[0-9]+$ && $min =~ ^[0-9]+$ ]]; then
		why="$CRIU --version prints no version"
	elif ((maj < 4 || (maj == 4 && min < 1))); then
		why="$CRIU is $ver: 4.1 or later is needed"
	elif ! out=$("$CRIU" check 2>&1); then
		why="$CRIU check fails: $(tail -n 1 <<<"$out")"
	fi
fi
if [[ -n $why ]]; then
	t_skip "snapshot --criu checkpoints the container" "$why"
	exit 0
fi
t_diag "criu $ver at $CRIU passes criu check"

t_ok "snapshot --criu exits 0 (complete)" "$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name c1 --criu
bundle c1
X=$T_TMP/c1
M=$X/manifest.json
t_eq "c1: manifest criu.status" dumped "$(j .criu.status "$M")"
t_eq "c1: manifest criu.version is the criu's" "$ver" "$(j .criu.version "$M")"
t_eq "c1: manifest criu.tree_root is the container's init" "$P" "$(j .criu.tree_root "$M")"
t_eq "c1: manifest counts the checkpoint/ members" "$(ls "$X/checkpoint" | wc -l)" "$(j .criu.images "$M")"
for img in pstree.img files.img 'core-*.img' 'mm-*.img' 'pagemap-*.img' 'pages-*.img'; do
	t_match "c1: checkpoint/ holds $img" . "$(cd "$X/checkpoint" && ls $img 2>/dev/null | head -1)"
done
t_eq "c1: every checkpoint/ file is in SHA256SUMS" "$(ls "$X/checkpoint" | wc -l)" \
	"$(grep -c '  checkpoint/' "$X/SHA256SUMS")"
t_match "c1: criu's dump log is a member" 'Dumping finished successfully' "$(tail -n 3 "$X/criu/dump.log" 2>&1)"
t_match "c1: an info event says what was checkpointed" 'checkpoint of the tree of pid' \
	"$(j -c '.events[]|select(.collector=="criu")' "$X/capture-log.json")"

# --leave-running: the same container, its init and its processes still there
t_eq "c1: the container still runs" running "$(podman inspect -f '{{.State.Status}}' "$T_TARGET_NAME")"
t_eq "c1: its init is the same process" "$P" "$(podman inspect -f '{{.State.Pid}}' "$T_TARGET_NAME")"
t_ok "c1: its init is alive" kill -0 "$P"
gone=
for row in $(j -c '.processes[]|[.pid,(.cmdline|join(" "))]|@base64' "$X/processes.json"); do
	r=$(base64 -d <<<"$row")
	# the workload's passing sleeps end by themselves; every other process must still run
	[[ $(jq -r '.[1]' <<<"$r") == "sleep 5" ]] && continue
	pid=$(jq -r '.[0]' <<<"$r")
	[[ -e /proc/$pid ]] || gone+=" $pid"
done
t_empty "c1: every process captured still runs after the dump" "$gone"
t_ok "c1: the workload still answers over TCP" podman exec "$T_TARGET_NAME" sh -c 'echo hi | nc -w 2 127.0.0.1 9090 | grep -q hi'

# crit (CRIU's own decoder) reads the images back: the tree's pids are the container's
CRIT=$(command -v crit || true)
if [[ -z $CRIT ]]; then
	t_skip "crit decodes checkpoint/pstree.img" "no crit on PATH"
else
	tree=$("$CRIT" show "$X/checkpoint/pstree.img" 2>&1)
	t_eq "crit: pstree's root is pid 1 with no parent" "1 0" "$(jq -r '.entries[0]|"\(.pid) \(.ppid)"' <<<"$tree" 2>&1)"
	missing=
	for row in $(j -c '.processes[]|[.pid,.nspid[-1]]' "$X/processes.json"); do
		host=$(jq '.[0]' <<<"$row")
		inner=$(jq '.[1]' <<<"$row")
		# a process alive before and after the dump was in it
		[[ -e /proc/$host ]] || continue
		jq -e --argjson p "$inner" 'any(.entries[]; .pid == $p)' <<<"$tree" >/dev/null || missing+=" $inner"
	done
	t_empty "crit: every process of processes.json still alive is in pstree.img (by its pid in the container)" "$missing"
	t_eq "crit: /etc/hosts is an external mount keyed by its mount point (as runc keys it)" /etc/hosts \
		"$("$CRIT" show "$X"/checkpoint/mountpoints-*.img 2>&1 | jq -r '.entries[]|select(.mountpoint=="/etc/hosts").ext_key' 2>&1)"
	t_eq "crit: core of pid 1 names the workload's comm" "$(cat /proc/"$P"/comm)" \
		"$("$CRIT" show "$X/checkpoint/core-1.img" 2>&1 | jq -r '.entries[0].tc.comm' 2>&1)"
fi

# ---- a real dump that fails: a deleted-open file over the ghost limit (--fd-cap 1), no --link-remap
"$CAPTURE" snapshot --pid "$P" --key "$T_TMP/key.key" -o "$OUT" --name g1 --criu --fd-cap 1 >/dev/null 2>&1
t_eq "g1: a dump over the ghost limit: exit 3 (partial)" 3 "$?"
bundle g1
t_eq "g1: manifest criu.status" dump-failed "$(j .criu.status "$T_TMP/g1/manifest.json")"
t_match "g1: the reason is CRIU's error from its log" "Can't dump ghost file" "$(j .criu.reason "$T_TMP/g1/manifest.json")"
t_match "g1: its dump log is a member" 'Dumping FAILED' "$(cat "$T_TMP/g1/criu/dump.log" 2>&1)"
t_empty "g1: no checkpoint/ member of a failed dump" "$(tar -tf "$OUT/g1.tar" 2>/dev/null | grep '^checkpoint/')"
t_eq "g1: the container still runs" running "$(podman inspect -f '{{.State.Status}}' "$T_TARGET_NAME")"

# ---- a pod's shared pid namespace, seen from the host: CRIU dumps it only whole, from its init
POD=ai-criu-pod-$$
t_cleanup "podman pod rm -f -t 0 $POD"
podman pod create --name "$POD" --share pid >/dev/null 2>&1
if PP=$(bash "$FIXTURES/start-target" "$POD-c" --pod "$POD" 2>/dev/null); then
	t_ok "pod: snapshot --criu exits 0" "$CAPTURE" snapshot --pid "$PP" --key "$T_TMP/key.key" -o "$OUT" --name p1 --criu
	bundle p1
	t_eq "p1: manifest criu.status" unsupported "$(j .criu.status "$T_TMP/p1/manifest.json")"
	t_match "p1: the reason names the pid namespace" 'not the init of its pid namespace' \
		"$(j .criu.reason "$T_TMP/p1/manifest.json")"
else
	t_ok "pod: start a container in a pod sharing its pid namespace" false
fi

# ---- serve --criu, hardened: criu runs in the runner forked before the seccomp allowlist
SOUT=$T_TMP/serve
mkdir -p "$SOUT"
"$CAPTURE" serve --key "$T_TMP/key.key" -o "$SOUT" --listen none --socket "$T_TMP/trig.sock" \
	--target-pid "$P" --no-exit-trigger --criu 2>"$T_TMP/serve.log" &
SPID=$!
t_cleanup "kill -9 $SPID"
t_wait_listening "$T_TMP/serve.log" "$SPID" || t_bail "serve --criu started" "$(cat "$T_TMP/serve.log")"
st=$(cat "/proc/$SPID/status")
t_match "serve --criu: Seccomp: 2 (filter)" $'Seccomp:\t2' "$st"
t_match "serve --criu: CapEff is still the documented five" $'CapEff:\t000000000028002c' "$st"
t_match "serve --criu: execve in serve itself is still refused with EPERM" '"execve_errno":1,"execve_refused":true' \
	"$("$CAPTURE" trigger --socket "$T_TMP/trig.sock" --sandbox-check 2>&1)"
runner=$(cat /proc/$SPID/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' | head -1)
t_match "serve --criu: its runner has no seccomp filter (CRIU cannot work under one)" $'Seccomp:\t0' \
	"$(cat "/proc/${runner:-0}/status" 2>&1)"
t_match "serve --criu: its runner has no_new_privs" $'NoNewPrivs:\t1' "$(cat "/proc/${runner:-0}/status" 2>&1)"
r=$("$CAPTURE" trigger --socket "$T_TMP/trig.sock" --reason criu 2>&1)
t_match "serve --criu: the capture is complete and frozen" '"complete":true.*"freeze":\{"frozen":true' "$r"
SB=$(jq -r .bundle <<<"$r" 2>/dev/null)
mkdir -p "$T_TMP/s1"
t_ok "serve --criu: minisign verifies the bundle" minisign -Vm "$SB" -p "$T_TMP/key.pub"
tar -xf "$SB" -C "$T_TMP/s1" 2>/dev/null
t_eq "serve --criu: manifest criu.status" dumped "$(j .criu.status "$T_TMP/s1/manifest.json")"
t_match "serve --criu: checkpoint/ holds pstree.img" . "$(ls "$T_TMP/s1/checkpoint/pstree.img" 2>/dev/null)"
kill -TERM "$SPID"
wait "$SPID"
t_eq "serve --criu exits 0 on SIGTERM (its runner with it)" 0 "$?"
t_eq "the container still runs after both dumps" running "$(podman inspect -f '{{.State.Status}}' "$T_TARGET_NAME")"
