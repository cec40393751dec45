#!/usr/bin/env bash
# The capture against a container that attacks the walk of its own upperdir (robustness matrix
# C-01..C-08): a static racer inside the container swaps files for symlinks to host files, and for
# FIFOs, faster than the walk can look; a 2,000-deep tree; names that are newlines, escape
# sequences, invalid UTF-8 or 255 bytes long; 1,000 hardlinks to one file; an output directory on
# a 1 MiB tmpfs and on tmpfs sizes around the bundle's; the container killed, then removed, while
# its 200 MiB upper is being copied. inotify watches (tests/fixtures/fswatch.py) on the host's
# canary files and on the FIFOs' inodes show what the capture opened, whatever flags it used.
. "$(dirname "$0")/../lib.sh"
t_require_capture

t_ok "build the test image" bash "$ROOT/scripts/build-test-image" "$BUILD"
t_ok "build the racer (static)" cc -static -O2 -Wall -Werror -o "$T_TMP/racer" "$FIXTURES/racer.c"
t_target "ai-hostile-$$"
P=$T_TARGET_PID
NAME=$T_TARGET_NAME
UPPER=$(podman inspect -f '{{.GraphDriver.Data.UpperDir}}' "$NAME")
[[ -d $UPPER ]] || t_bail "the target's upperdir" "$UPPER"
t_ok "copy the racer into the container" podman cp "$T_TMP/racer" "$NAME:/usr/bin/racer"
K=$T_TMP/k
"$CAPTURE" keygen -o "$K" >/dev/null || t_bail "keygen"
OUT=$T_TMP/out
mkdir -p "$OUT"

# snap NAME [OUTDIR]: one snapshot under `timeout 60` and GNU time; sets RC, SECS, RSS (KiB), SIZE
# (bytes of NAME.tar, 0 when there is none); its stdout and stderr are in $T_TMP/NAME.{out,err}.
snap() {
	local n=$1 dir=${2:-$OUT} t0
	t0=$(date +%s.%N)
	timeout 60 /usr/bin/time -f %M -o "$T_TMP/$n.rss" \
		"$CAPTURE" snapshot --pid "$P" --key "$K.key" -o "$dir" --name "$n" >"$T_TMP/$n.out" 2>"$T_TMP/$n.err"
	RC=$?
	SECS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	RSS=$(tail -n 1 "$T_TMP/$n.rss" 2>/dev/null)
	SIZE=$(stat -c %s "$dir/$n.tar" 2>/dev/null || echo 0)
}
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# member NAME PATH: a member of OUT/NAME.tar on stdout
member() { bsdtar -xOf "$OUT/$1.tar" "$2" 2>/dev/null; }

# The target's cgroup freeze state, as 42-sidecar-freeze.sh reads it: 1 frozen, 0 not.
cg=$(sed -n 's/^0:://p' "/proc/$P/cgroup")
EV=
for f in "/sys/fs/cgroup$cg/cgroup.events" "/sys/fs/cgroup/unified$cg/cgroup.events"; do [[ -f $f ]] && EV=$f && break; done
V1=$(sed -n 's/^[0-9]*:freezer:\(.*\)$/\/sys\/fs\/cgroup\/freezer\1\/freezer.state/p' "/proc/$P/cgroup")
frozen() {
	if [[ -n $EV ]]; then sed -n 's/^frozen //p' "$EV"; else [[ $(cat "$V1" 2>/dev/null) == FROZEN ]] && echo 1 || echo 0; fi
}

WPID=
# watch_start LOG PATH...: inotify watches on PATH (see fswatch.py); watch_stop ends them.
watch_start() {
	local log=$1 i
	rm -f "$log" "$log.ready"
	python3 "$FIXTURES/fswatch.py" "$@" 2>"$log.err" &
	WPID=$!
	t_cleanup "kill $WPID"
	for ((i = 0; i < 200; i++)); do
		[[ -e $log.ready ]] && return 0
		kill -0 "$WPID" 2>/dev/null || break
		sleep 0.05
	done
	t_bail "inotify watches set" "$(cat "$log.err")"
}
watch_stop() {
	sleep 0.2 # the events of the last capture are read
	kill "$WPID" 2>/dev/null
	wait "$WPID" 2>/dev/null
	touch "$1"
}
# wait_ready DIR: the racer (inside the container) made its tree and waits for DIR/.go
wait_ready() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ -e $UPPER$1/.ready ]] && return 0
		sleep 0.05
	done
	t_bail "racer ready in $1"
}

# ---- C-04: hostile names
t_case C-04 "names with newlines, ESC/BEL sequences, CR/TAB/DEL, C1 CSI, invalid UTF-8 (0xff, surrogates, overlong, >U+10FFFF), 255 bytes (ASCII, 2-byte UTF-8, 0xff), leading '-', a real '.wh.' file, a symlink to such bytes, a directory of such a name"
mapfile -t NAMES_HEX < <(python3 - <<'EOF'
names = [
    b"target\n\x1b[31mred\xff",      # also the symlink's target
    b"nl\nname",                    # also the directory's name (dir-...)
    b"\x1b]0;PWNED\x07\x1b[2J",     # also the name of the file in that directory
    b"bad\xff\xfeutf8", b"L" * 255, "\u00e9".encode() * 127 + b"x", b"\xff" * 255,
    b"\r\t\x01\x7fctl", b"c1-\xc2\x9b-csi", b" lead and trail ", b"back\\slash\\n", b"-rf",
    b"surrogate-\xed\xa0\x80", b"toolarge-\xf4\x90\x80\x80", b"overlong-\xc0\xaf",
    b"quote\"'`$(id)", b"%s%n%x", b"...", b".wh.fake", "\u65e5\u672c\u8a9e".encode(), b"tab\there",
]
for n in names:
    assert len(n) <= 255
    print(n.hex())
EOF
)
t_ok "the racer makes ${#NAMES_HEX[@]} hostile names inside the container" \
	podman exec "$NAME" racer names /data/names "${NAMES_HEX[@]}"
snap names
t_eq "capture of the hostile names: exit 0 (complete)" 0 "$RC"
raw=$(cat "$T_TMP/names.out" "$T_TMP/names.err" | tr -dc '\033\007\r' | wc -c)
t_eq "no raw ESC, BEL or CR on the capture's stdout or stderr" 0 "$raw"
X=$T_TMP/x-names
mkdir -p "$X"
t_ok "GNU tar extracts the bundle" tar -xf "$OUT/names.tar" -C "$X"
raw=$(cat "$X/fs/upper.json" "$X/capture-log.json" "$X/manifest.json" | tr -dc '\000-\011\013-\037\177' | wc -c)
t_eq "the JSON members hold no raw control byte (escaped)" 0 "$raw"
t_ok "fs/upper.json: every hostile path exact (path, or path_hex when not UTF-8, with U+FFFD in path)" \
	python3 - "$X/fs/upper.json" "${NAMES_HEX[@]}" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1], "rb"))
names = [bytes.fromhex(h) for h in sys.argv[2:]]
seen = {}
for e in doc["entries"]:
    b = bytes.fromhex(e["path_hex"]) if "path_hex" in e else e["path"].encode()
    seen[b] = e
    if "path_hex" in e:
        assert "\ufffd" in e["path"], e
        try:
            b.decode("utf-8")
            raise AssertionError("path_hex for valid UTF-8: %r" % e)
        except UnicodeDecodeError:
            pass
for n in names:
    assert b"/data/names/" + n in seen, n
link = seen[b"/data/names/link"]
t = bytes.fromhex(link["target_hex"]) if "target_hex" in link else link["target"].encode()
assert t == names[0], t
assert b"/data/names/dir-" + names[1] + b"/" + names[2] in seen
EOF
t_ok "GNU tar's tree: os.listdir(bytes) is exactly the names, each file holds its own name" \
	python3 - "$X/fs/upper/data/names" "${NAMES_HEX[@]}" <<'EOF'
import os, sys
d = os.fsencode(sys.argv[1])
names = [bytes.fromhex(h) for h in sys.argv[2:]]
want = set(names) | {b"link", b"dir-" + names[1]}
got = set(os.listdir(d))
assert got == want, (sorted(got - want), sorted(want - got))
for h, n in zip(sys.argv[2:], names):
    assert open(os.path.join(d, n), "rb").read() == h.encode(), n
assert os.readlink(os.path.join(d, b"link")) == names[0]
assert os.listdir(os.path.join(d, b"dir-" + names[1])) == [names[2]]
EOF
XB=$T_TMP/x-names-bsd
mkdir -p "$XB"
bsdtar -xf "$OUT/names.tar" -C "$XB" 2>/dev/null
t_eq "bsdtar extracts the same names" "$(cd "$X/fs/upper/data/names" && printf '%s\0' * | sha256sum)" \
	"$(cd "$XB/fs/upper/data/names" 2>/dev/null && printf '%s\0' * | sha256sum)"
t_ok "sha256sum -c SHA256SUMS over those names passes" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
t_match "the real '.wh.' file is stored and warned about" 'a real file named like an OCI whiteout' \
	"$(jq -r '.events[] | select(.path=="data/names/.wh.fake") | .message' "$X/capture-log.json")"
t_case_end "stored byte-exact in pax headers; JSON escapes them (path_hex beside U+FFFD); GNU tar, bsdtar and sha256sum -c restore and check the exact bytes" \
	"${#NAMES_HEX[@]} names; capture ${SECS} s, RSS ${RSS} KiB, bundle $(mib "$SIZE")"
rm -rf "$X" "$XB"

# ---- C-05: 1,000 hardlinks to one 4 MiB file
t_case C-05 "1,000 hardlinks to one 4 MiB file (a 4 GiB bundle if each link were stored)"
snap links0
S0=$SIZE
t_ok "the racer makes one 4 MiB file and 1,000 hardlinks to it" podman exec "$NAME" racer links /data/links 1000 4194304
snap links
t_eq "capture with 1,000 hardlinks: exit 0" 0 "$RC"
grow=$((SIZE - S0))
# once: 4 MiB of content, plus a tar header, pax records and an index entry per name (< 4 KiB)
t_ok "the bundle grew by the file once, not 1,001 times ($(mib "$grow"))" test "$grow" -lt $(((4 << 20) + 1001 * 4096))
t_eq "one regular member, 1,000 tar hardlinks to it" "1 1000" \
	"$(tar -tvf "$OUT/links.tar" 2>/dev/null | grep ' fs/upper/data/links/' | awk '{n[substr($1,1,1)]++} END {print n["-"]+0, n["h"]+0}')"
X=$T_TMP/x-links
mkdir -p "$X"
tar -xf "$OUT/links.tar" -C "$X" 2>/dev/null
t_eq "extracted: 1,001 names of one inode" "1 1001" \
	"$(stat -c '%i %h' "$X"/fs/upper/data/links/* | sort -u | awk '{n++; h=$2} END {print n, h}')"
t_eq "its content is the container's file" "$(sha256sum <"$UPPER/data/links/l0000")" "$(sha256sum <"$X/fs/upper/data/links/l0777")"
t_eq "every link indexed with its target's sha256" 1000 \
	"$(jq "[.entries[] | select(.hardlink_to==\"/data/links/l0000\" and .sha256==\"$(sha256sum <"$UPPER/data/links/l0000" | cut -d' ' -f1)\")] | length" "$X/fs/upper.json")"
t_ok "sha256sum -c SHA256SUMS passes" bash -c "cd '$X' && sha256sum -c --quiet SHA256SUMS"
t_case_end "stored once, every other name a tar hardlink with its target's sha256 in the index" \
	"bundle +$(mib "$grow") for 4 GiB of names; capture ${SECS} s, RSS ${RSS} KiB"
rm -rf "$X" "$OUT"/links*

# ---- C-03: a 2,000-deep tree
t_case C-03 "a directory chain 2,000 deep (paths past PATH_MAX) with a token at the bottom"
TOKEN=deep-token-$RANDOM$RANDOM$RANDOM
t_ok "the racer makes a chain of 2,000 directories" podman exec "$NAME" racer deep /data/deep 2000 "$TOKEN"
snap deep
t_eq "capture of the deep tree: exit 3 (partial: the subtree past the depth limit is not in the bundle)" 3 "$RC"
t_eq "the manifest says it is partial and a limit cut it" "false true" \
	"$(member deep manifest.json | jq -r '[.complete, .limits.budget_cut] | map(tostring) | join(" ")')"
t_match "the walk stopped at depth 512 and says so" '"level":"skip".*"message":"deeper than 512 levels: not walked"' \
	"$(member deep capture-log.json | jq -c '.events[] | select(.path != null and (.path | startswith("data/deep/")))')"
t_eq "directories walked to depth 512: the deepest indexed entry is 513 levels below the upper's root" 513 \
	"$(member deep fs/upper.json | jq '[.entries[] | select(.path | startswith("/data/deep/d")) | .path | split("/") | length - 1] | max')"
t_eq "nothing below the limit is in the bundle (the bottom token)" 0 "$(grep -ac "$TOKEN" "$OUT/deep.tar")"
t_ok "the bundle verifies (minisign)" minisign -Vm "$OUT/deep.tar" -p "$K.pub" -q
t_ok "peak RSS stays small (${RSS} KiB < 64 MiB)" test "${RSS:-999999}" -lt 65536
t_case_end "walked to depth 512, the rest recorded as a skip (\"deeper than 512 levels: not walked\"); sealed, marked partial" \
	"capture ${SECS} s, RSS ${RSS} KiB, bundle $(mib "$SIZE")"
rm -f "$OUT"/deep*
podman exec "$NAME" rm -rf /data/deep

# ---- C-01: symlink swaps racing the walk
t_case C-01 "400 files and 400 directories swapped (renameat2 RENAME_EXCHANGE, in a loop) with symlinks to a host canary (absolute and ../ climbing out of the upperdir), /etc/shadow and ../../etc/hostname, during 3 captures"
CAN=$T_TMP/canary
mkdir -p "$CAN/dir"
CTOKEN=canary-$RANDOM$RANDOM$RANDOM
echo "$CTOKEN" >"$CAN/secret"
echo "$CTOKEN-dir" >"$CAN/dir/secret"
UP=$(printf '../%.0s' $(seq 64))
t_ok "the racer makes 400 file/symlink and 400 directory/symlink pairs" \
	podman exec -d "$NAME" racer swap /data/swap 400 "$CAN/secret" "$UP${CAN#/}/dir/secret" /etc/shadow "${UP}etc/hostname"
wait_ready /data/swap
watch_start "$T_TMP/w-swap" "$CAN" "$CAN/secret" "$CAN/dir" "$CAN/dir/secret"
podman exec "$NAME" touch /data/swap/.go
sleep 0.3
rcs= fig=
for i in 1 2 3; do
	snap "swap$i"
	rcs+="$RC "
	fig+="${SECS} s/${RSS} KiB "
	t_ok "swap capture $i: sealed and signed (exit $RC)" minisign -Vm "$OUT/swap$i.tar" -p "$K.pub" -q
done
watch_stop "$T_TMP/w-swap"
t_match "every capture under the race ended sealed: complete or partial (exit 0 or 3)" '^([03] ){3}$' "$rcs"
t_empty "the host canary was never opened nor read (inotify)" "$(cat "$T_TMP/w-swap")"
t_eq "the canary's content is in no bundle" 0 "$(cat "$OUT"/swap?.tar | grep -ac "$CTOKEN")"
kinds=$(for i in 1 2 3; do member "swap$i" fs/upper.json; done |
	jq -r '.entries[] | select(.path | test("^/data/swap/[fxdy][0-9]+$")) | .type' | sort | uniq -c | tr -s ' ' | tr '\n' ',')
t_match "the race was on: names seen as files, directories and symlinks ($kinds)" '[0-9]+ dir,.*[0-9]+ file,.*[0-9]+ symlink' "$kinds"
hashes=$(for i in 1 2 3; do member "swap$i" fs/upper.json; done | jq -r '.entries[] | .sha256 // empty' | sort -u)
leak=
for f in "$CAN/secret" "$CAN/dir/secret" /etc/shadow /etc/hostname; do
	[[ -f $f ]] && grep -qx "$(sha256sum <"$f" | cut -d' ' -f1)" <<<"$hashes" && leak+="$f "
done
t_empty "no stored file has the content of the canary, the host's /etc/shadow or /etc/hostname" "$leak"
t_empty "every swapped symlink is stored as a symlink to one of its 4 targets" "$(for i in 1 2 3; do
	tar -tvf "$OUT/swap$i.tar" 2>/dev/null | grep '^l.* fs/upper/data/swap/' |
		grep -v -e " -> $CAN/secret\$" -e " -> $CAN\$" -e " -> $UP${CAN#/}/dir/secret\$" -e " -> $UP${CAN#/}/dir\$" \
			-e ' -> /etc/shadow$' -e ' -> /etc$' -e " -> ${UP}etc/hostname\$" -e " -> ${UP}etc\$"
done | head -5)"
swerr=$(for i in 1 2 3; do member "swap$i" capture-log.json; done |
	jq -r '.events[] | select(.level=="error" and (.path // "" | startswith("data/swap/"))) | .message' | sed 's/ [fxdy][0-9]*:/:/' | sort | uniq -c | tr -s ' ' | tr '\n' ';')
t_diag "errors the race caused (recorded, the capture went on): ${swerr:-none}"
podman exec "$NAME" busybox killall racer >/dev/null 2>&1
t_case_end "no symlink followed: symlinks stored as symlinks, a swap between stat and open refused (O_NOFOLLOW, same dev/ino) and logged; nothing outside the container opened (inotify) or stored" \
	"3 captures, exits ${rcs% }; ${fig% }; race errors logged: ${swerr:-none}"
rm -f "$OUT"/swap*

# ---- C-02: FIFO swaps racing the walk
t_case C-02 "1,000 regular files swapped with FIFOs (RENAME_EXCHANGE in a loop) during 4 captures"
t_ok "the racer makes 1,000 file/FIFO pairs" podman exec -d "$NAME" racer fifo /data/fifos 1000
wait_ready /data/fifos
watch_start "$T_TMP/w-fifo" "$UPPER"/data/fifos/x*
podman exec "$NAME" touch /data/fifos/.go
sleep 0.3
rcs= fig= skips=0 fifos=0
for i in 1 2 3 4; do
	snap "fifo$i"
	rcs+="$RC "
	fig+="${SECS} s "
	s=$(member "fifo$i" capture-log.json | jq '[.events[] | select(.level=="skip" and (.path // "" | startswith("data/fifos/")) and (.message | startswith("fifo:")))] | length')
	f=$(member "fifo$i" fs/upper.json | jq '[.entries[] | select(.type=="fifo" and (.path | startswith("/data/fifos/")))] | length')
	skips=$((skips + ${s:-0}))
	fifos=$((fifos + ${f:-0}))
done
watch_stop "$T_TMP/w-fifo"
t_match "no capture hung: each ended within 60 s, sealed (exit 0 or 3)" '^([03] ){4}$' "$rcs"
t_ok "the race was on: FIFOs indexed ($fifos over 4 captures)" test "$fifos" -gt 0
t_eq "every FIFO indexed is recorded as a skip" "$fifos" "$skips"
t_empty "no FIFO stored in any bundle" "$(for i in 1 2 3 4; do tar -tvf "$OUT/fifo$i.tar" 2>/dev/null | grep '^p'; done)"
opened=$(wc -l <"$T_TMP/w-fifo")
t_eq "no FIFO was ever opened (inotify IN_OPEN on the FIFOs' inodes)" 0 "$opened"
podman exec "$NAME" busybox killall racer >/dev/null 2>&1
t_case_end "never hangs; every FIFO seen is indexed and skipped; FIFOs swapped in between stat and open: $opened opened (a FIFO must never be opened)" \
	"4 captures, exits ${rcs% }; ${fig% }; $fifos FIFOs indexed and skipped"
rm -f "$OUT"/fifo*

# ---- C-06: the output directory fills up
t_case C-06 "the output directory on a 1 MiB tmpfs, then on tmpfs sizes around the bundle's (a full disk at every stage of the write)"
snap ref
REF=$SIZE
t_ok "a reference capture on the real disk ($(mib "$REF"))" test "$RC" = 0 -a "$REF" -gt $((1 << 20))
rm -f "$OUT"/ref*
FULL=$T_TMP/full
mkdir -p "$FULL"
t_ok "mount a 1 MiB tmpfs" mount -t tmpfs -o size=1m,mode=0700 none "$FULL"
t_cleanup "umount $(printf '%q' "$FULL")"
snap full "$FULL"
t_eq "1 MiB: exit 1 (no bundle)" 1 "$RC"
t_match "1 MiB: the message names ENOSPC" 'No space left on device' "$(cat "$T_TMP/full.err")"
t_empty "1 MiB: nothing left behind (no .partial, no .minisig)" "$(ls -A "$FULL")"
t_eq "1 MiB: the target is not left frozen" 0 "$(frozen)"
FIG="1 MiB: exit 1 in ${SECS} s, RSS ${RSS} KiB"
umount "$FULL"
pages=$(((REF + 4095) / 4096))
states=
for p in $((pages - 2)) $((pages - 1)) $pages $((pages + 1)) $((pages + 2)) $((pages + 3)); do
	mount -t tmpfs -o "size=$((p * 4096)),mode=0700" none "$FULL" || t_bail "mount a tmpfs of $p pages"
	snap "f$p" "$FULL"
	left=$(ls -A "$FULL" | tr '\n' ' ')
	if ((RC == 1)); then
		states+="$p:ENOSPC "
		t_match "$p pages: exit 1 names ENOSPC" 'No space left on device' "$(cat "$T_TMP/f$p.err")"
		t_empty "$p pages: exit 1 leaves nothing behind" "$left"
	else
		states+="$p:sealed($RC) "
		# the output budget is lowered to the free space: a disk too small for everything gives a
		# sealed bundle marked partial (exit 3), never a half-written one
		t_match "$p pages: otherwise a sealed bundle (exit 0, or 3 when the budget cut it) and its signature only" \
			"^[03] f$p.tar f$p.tar.minisig \$" "$RC $left"
		t_ok "$p pages: and it verifies" minisign -Vm "$FULL/f$p.tar" -p "$K.pub" -q
	fi
	t_eq "$p pages: the target is not left frozen" 0 "$(frozen)"
	umount "$FULL"
done
t_match "every size of the sweep ended in nothing at all or a sealed bundle ($states)" '^([0-9]+:(ENOSPC|sealed\([03]\)) )+$' "$states"
t_ok "the target still runs" podman exec "$NAME" true
t_case_end "exit 1 with ENOSPC named and nothing left, or (the output budget lowered to the free space) a sealed bundle marked partial; target thawed; never a half state" \
	"$FIG; bundle $(mib "$REF") = $pages pages, tmpfs pages -> outcome: ${states% }"

# ---- C-07: the target killed while its upper is copied
t_case C-07 "every process of the target SIGKILLed (podman kill) while a capture copies its 200 MiB upper"
t_ok "200 MiB of random files in the upper" podman exec "$NAME" sh -c \
	'mkdir -p /data/big && i=0 && while [ $i -lt 20 ]; do dd if=/dev/urandom of=/data/big/f$i bs=1M count=10 2>/dev/null || exit 1; i=$((i + 1)); done'
# bg_snap_until NAME BYTES: a snapshot in the background (BGPID), back once its .partial holds BYTES
bg_snap_until() {
	local n=$1 i s
	T0=$(date +%s.%N)
	/usr/bin/time -f %M -o "$T_TMP/$n.rss" timeout 120 \
		"$CAPTURE" snapshot --pid "$P" --key "$K.key" -o "$OUT" --name "$n" >"$T_TMP/$n.out" 2>"$T_TMP/$n.err" &
	BGPID=$!
	for ((i = 0; i < 3000; i++)); do
		s=$(stat -c %s "$OUT/$n.tar.partial" 2>/dev/null || echo 0)
		((s >= $2)) && return 0
		kill -0 "$BGPID" 2>/dev/null || break
		sleep 0.01
	done
	t_diag "the capture ended (or stalled) before its .partial reached $2 bytes"
	return 1
}
bg_finish() {
	wait "$BGPID"
	RC=$?
	SECS=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
	RSS=$(tail -n 1 "$T_TMP/$1.rss" 2>/dev/null)
	SIZE=$(stat -c %s "$OUT/$1.tar" 2>/dev/null || echo 0)
}
bg_snap_until kill $((20 << 20))
t_ok "the capture was still running at 20 MiB" kill -0 "$BGPID"
t_ok "podman kill -s KILL the target" podman kill -s KILL "$NAME"
bg_finish kill
t_match "killed mid-capture: the capture ends sealed (exit 0 or 3)" '^[03]$' "$RC"
t_empty "no .partial left" "$(ls "$OUT" | grep partial)"
t_ok "the bundle verifies (minisign)" minisign -Vm "$OUT/kill.tar" -p "$K.pub" -q
m=$(member kill manifest.json)
t_eq "manifest complete agrees with the exit code" "$([[ $RC == 0 ]] && echo true || echo false)" "$(jq -r .complete <<<"$m")"
t_eq "the target is dead" exited "$(podman inspect -f '{{.State.Status}}' "$NAME")"
X=$T_TMP/x-kill
mkdir -p "$X"
tar -xf "$OUT/kill.tar" -C "$X" fs/upper/data/big 2>/dev/null
t_eq "all 20 big files stored, each equal to the upper's (which outlives the container)" \
	"$(cd "$UPPER/data/big" && sha256sum f* | sort)" "$(cd "$X/fs/upper/data/big" 2>/dev/null && sha256sum f* | sort)"
t_case_end "sealed and signed (complete=$(jq -r .complete <<<"$m"), $(jq -r .errors <<<"$m") errors, $(jq -r .warnings <<<"$m") warnings): the upper outlives its processes and the walk holds its dirfds" \
	"capture ${SECS} s, RSS ${RSS} KiB, bundle $(mib "$SIZE")"
rm -rf "$X" "$OUT"/kill*

# ---- C-08: the target removed (its upper deleted) while the capture copies it
t_case C-08 "podman rm -f of the target (its upperdir deleted) while a capture copies the 200 MiB upper"
t_ok "restart the target" podman start "$NAME"
for ((i = 0; i < 100; i++)); do
	P=$(podman inspect -f '{{.State.Pid}}' "$NAME")
	[[ $P =~ ^[1-9][0-9]*$ ]] && break
	sleep 0.1
done
bg_snap_until rm $((20 << 20))
t_ok "the capture was still running at 20 MiB" kill -0 "$BGPID"
t_ok "podman rm -f the target" podman rm -f -t 0 "$NAME"
t_fail "its upperdir is gone" test -e "$UPPER"
bg_finish rm
t_eq "removed mid-capture: a partial bundle (exit 3)" 3 "$RC"
t_empty "no .partial left" "$(ls "$OUT" | grep partial)"
t_ok "the bundle verifies (minisign)" minisign -Vm "$OUT/rm.tar" -p "$K.pub" -q
m=$(member rm manifest.json)
t_eq "marked incomplete" false "$(jq -r .complete <<<"$m")"
nerr=$(member rm capture-log.json | jq '[.events[] | select(.level=="error" and .collector=="upper")] | length')
t_ok "the vanished entries are logged as errors ($nerr)" test "${nerr:-0}" -gt 0 || t_diag "$(member rm capture-log.json | jq -c "[.events[] | select(.level==\"error\")] | .[:5]")"
t_eq "the errors printed are the manifest's" "$(jq -r .errors <<<"$m")" "$(jq -r .errors "$T_TMP/rm.out" 2>&1)"
t_case_end "sealed and signed, complete=false: every entry that vanished is an error in capture-log.json, what was read is kept" \
	"capture ${SECS} s, RSS ${RSS} KiB, bundle $(mib "$SIZE"), $nerr upper errors"
